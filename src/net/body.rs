//! The bounded body reader: a response body read (or streamed to a sink) up to a limit and
//! refused at the first byte past it. Neither an announced length nor a listed size sizes an allocation: the body grows
//! as it arrives.

use super::NetError;

/// The body of `resp`, at most `limit` bytes. A body announced longer is refused before it
/// is read; one that streams past the limit is refused there; one shorter than its announced
/// length is `Truncated`.
pub async fn read_bounded(resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, NetError> {
    let mut body = Vec::new();
    stream_bounded(resp, limit, |chunk| {
        body.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(body)
}

/// As `read_bounded`, but each chunk goes to `sink` as it arrives (the body is never held
/// whole; a sink's error is `NetError::Sink`); returns the body's length.
pub async fn stream_bounded(
    mut resp: reqwest::Response,
    limit: u64,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, NetError> {
    let length = resp.content_length();
    if length.is_some_and(|l| l > limit) {
        return Err(NetError::TooLong { limit });
    }
    let mut got = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| NetError::Read(e.without_url()))?
    {
        if got + chunk.len() as u64 > limit {
            return Err(NetError::TooLong { limit });
        }
        got += chunk.len() as u64;
        sink(&chunk).map_err(NetError::Sink)?;
    }
    if let Some(expected) = length.filter(|&l| l != got) {
        return Err(NetError::Truncated { got, expected });
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_up_to_a_limit() {
        use std::io::{Read, Write};
        // A server that answers every request with 3 MiB (announced or streamed endlessly).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let head = if n == 0 {
                    "HTTP/1.1 200 OK\r\nContent-Length: 3145728\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                };
                let _ = stream.write_all(head.as_bytes());
                let chunk = vec![b'x'; 64 << 10];
                for _ in 0..48 {
                    if stream.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }
        });
        let rt = super::super::runtime().unwrap();
        let client = super::super::client(super::super::Peer::Mirror).unwrap();
        for _ in 0..2 {
            let got = rt.block_on(async {
                let resp = client.get(format!("http://{addr}/")).send().await.unwrap();
                read_bounded(resp, 1 << 20).await
            });
            assert_eq!(
                got.unwrap_err().to_string(),
                "the answer is longer than 1048576 bytes"
            );
        }
        let small = rt.block_on(async {
            let resp = client.get(format!("http://{addr}/")).send().await.unwrap();
            read_bounded(resp, 4 << 20).await
        });
        assert_eq!(small.unwrap().len(), 3 << 20);
    }
}
