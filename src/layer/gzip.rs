//! Parallel, deterministic gzip: the input is cut at fixed 1 MiB boundaries, each piece is
//! deflated on its own (primed with the 32 KiB before it, as pigz does) and the pieces are
//! joined into one gzip member. The bytes depend only on the input, never on the number of
//! threads or on how the input was split into writes.

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use rayon::prelude::*;

/// Bytes deflated by one task. Part of the output format: changing it changes every digest.
const CHUNK: usize = 1 << 20;
/// Whole chunks collected before they are compressed together (at least).
const BATCH: usize = 8;
/// Deflate's window: how much of the preceding input primes each chunk.
const WINDOW: usize = 32 * 1024;
const LEVEL: u32 = 6;

/// A `Write` that gzips what it is given into `inner`; call `finish`.
pub struct ParallelGzip<W: Write> {
    inner: W,
    /// Input not compressed yet; starts at a chunk boundary.
    pending: Vec<u8>,
    /// The last `WINDOW` bytes before `pending` (the dictionary of its first chunk).
    window: Vec<u8>,
    crc: Crc,
}

impl<W: Write> ParallelGzip<W> {
    pub fn new(mut inner: W) -> io::Result<ParallelGzip<W>> {
        // Magic, deflate, no flags, mtime 0, no extra flags, OS "unknown".
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        Ok(ParallelGzip {
            inner,
            pending: Vec::with_capacity(BATCH * CHUNK + CHUNK),
            window: Vec::new(),
            crc: Crc::new(),
        })
    }

    /// Deflate the first `chunks` chunks of `pending` in parallel; the last of them ends the
    /// stream when `last` is set.
    fn compress(&mut self, chunks: usize, last: bool) -> io::Result<()> {
        let end = (chunks * CHUNK).min(self.pending.len());
        let data = &self.pending[..end];
        let window = &self.window;
        let out: Vec<io::Result<Vec<u8>>> = (0..chunks)
            .into_par_iter()
            .map(|i| {
                let start = i * CHUNK;
                let piece = &data[start..(start + CHUNK).min(data.len())];
                let dict = if i == 0 {
                    &window[..]
                } else {
                    &data[start - WINDOW..start]
                };
                deflate(dict, piece, last && i + 1 == chunks)
            })
            .collect();
        for piece in out {
            self.inner.write_all(&piece?)?;
        }
        self.crc.update(data);
        // Only the last call compresses less than a window; nothing primes anything after it.
        if !last {
            self.window.clear();
            self.window.extend_from_slice(&data[end - WINDOW..]);
        }
        self.pending.drain(..end);
        Ok(())
    }

    /// Compress what is left, write the trailer, and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let chunks = self.pending.len().div_ceil(CHUNK).max(1);
        self.compress(chunks, true)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        // Every whole chunk at once (a large write is not drained a batch at a time), but
        // at least one byte held back: only `finish` knows which chunk is the last.
        let whole = self.pending.len().saturating_sub(1) / CHUNK;
        if whole >= BATCH {
            self.compress(whole, false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One raw deflate piece: ends on a byte boundary (sync flush), or ends the stream.
fn deflate(dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let failed = |e: flate2::CompressError| io::Error::other(e.to_string());
    let mut c = Compress::new(Compression::new(LEVEL), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(failed)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(failed)?;
        let all_in = c.total_in() as usize == data.len();
        // A sync flush is complete once deflate stops short of filling the buffer.
        let done = if last {
            status == Status::StreamEnd
        } else {
            all_in && out.len() < out.capacity()
        };
        if done {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Compressible but not trivial input, `n` bytes.
    fn input(n: usize) -> Vec<u8> {
        let mut x: u32 = 1;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 7 < 4 {
                    b"distroless"[i % 10]
                } else {
                    (x >> 24) as u8
                }
            })
            .collect()
    }

    fn gzip(data: &[u8], write_size: usize, threads: usize) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut g = ParallelGzip::new(Vec::new()).unwrap();
            for piece in data.chunks(write_size.max(1)) {
                g.write_all(piece).unwrap();
            }
            g.finish().unwrap()
        })
    }

    #[test]
    fn round_trips_and_is_byte_stable() {
        for n in [
            0,
            1,
            WINDOW - 1,
            CHUNK,
            CHUNK + 1,
            BATCH * CHUNK,
            BATCH * CHUNK + 1,
            2 * BATCH * CHUNK + 12345,
        ] {
            let data = input(n);
            let a = gzip(&data, 4096, 1);
            assert_eq!(a, gzip(&data, 1_000_003, 4), "{n} bytes");
            assert_eq!(a, gzip(&data, n + 1, 2), "{n} bytes");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&a[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{n} bytes");
        }
    }

    #[test]
    fn costs_little_against_one_stream() {
        let data = input(3 * BATCH * CHUNK);
        let ours = gzip(&data, 65536, 2).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(LEVEL));
        one.write_all(&data).unwrap();
        let one = one.finish().unwrap().len();
        assert!(ours <= one + one / 100, "{ours} vs {one}");
    }
}
