//! Chunk codecs: zstd (bounded decoding), crc32c, and the `sharding_indexed` shard layout.

use crate::dtype::{disk_to_host_in_place, host_to_disk_with_endian, DType, Endian};
use crate::error::{Error, Result};
use crate::grid::{copy_box, for_each_index, is_contiguous, strides, BoxIn};
use crate::metadata::{ArrayMetadata, ChunkCodecs, IndexLocation, Sharding, ZstdConfig};

/// Offset/length pair marking an absent inner chunk in a shard index.
pub(crate) const EMPTY_ENTRY: (u64, u64) = (u64::MAX, u64::MAX);

fn corrupt(key: &str, reason: impl Into<String>) -> Error {
    Error::CorruptChunk {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// A reusable zstd decompression context (one per worker thread).
pub(crate) struct Decoder {
    ctx: Option<zstd::bulk::Decompressor<'static>>,
    stream: Option<zstd::zstd_safe::DCtx<'static>>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            ctx: None,
            stream: None,
        }
    }

    /// Whether [`decode_prefix`](Self::decode_prefix) can decode a chunk stored with
    /// `codecs`: plain or zstd bytes without checksums (a checksum needs the whole chunk).
    pub fn can_decode_prefix(codecs: &ChunkCodecs) -> bool {
        !codecs.crc32c && codecs.zstd.is_none_or(|z| !z.checksum)
    }

    /// Decodes only the first `out.len()` bytes of a chunk from `stored`, which may be just
    /// a prefix of the stored value. `Ok(false)` when `stored` ends before `out` is full
    /// (the caller then retries with more of the value); a frame that ends early is an error.
    pub fn decode_prefix(
        &mut self,
        codecs: &ChunkCodecs,
        stored: &[u8],
        out: &mut [u8],
        key: &dyn Fn() -> String,
    ) -> Result<bool> {
        debug_assert!(Self::can_decode_prefix(codecs));
        if codecs.zstd.is_none() {
            if stored.len() < out.len() {
                return Ok(false);
            }
            out.copy_from_slice(&stored[..out.len()]);
            return Ok(true);
        }
        use zstd::zstd_safe::{DCtx, InBuffer, OutBuffer, ResetDirective};
        let dctx = self.stream.get_or_insert_with(DCtx::create);
        let reset = |dctx: &mut DCtx<'static>| {
            dctx.reset(ResetDirective::SessionOnly)
                .map_err(|code| corrupt(&key(), zstd::zstd_safe::get_error_name(code)))
        };
        reset(dctx)?;
        let want = out.len();
        let mut output = OutBuffer::around(out);
        let mut input = InBuffer::around(stored);
        let result = loop {
            let hint = match dctx.decompress_stream(&mut output, &mut input) {
                Ok(hint) => hint,
                Err(code) => {
                    break Err(corrupt(
                        &key(),
                        format!(
                            "invalid zstd data: {}",
                            zstd::zstd_safe::get_error_name(code)
                        ),
                    ))
                }
            };
            if output.pos() == want {
                break Ok(true);
            }
            if hint == 0 && input.pos() == stored.len() {
                // The frame is complete (or the input ends exactly at a frame boundary).
                break Ok(false);
            }
            if input.pos() == stored.len() {
                break Ok(false);
            }
        };
        reset(dctx)?;
        result
    }

    /// Decodes `stored` through `codecs` into `out`, which must receive exactly `out.len()`
    /// bytes (the chunk's element bytes, still in disk byte order). Decompression writes only
    /// into `out`, so a frame that claims (or expands to) more than the chunk size fails
    /// instead of allocating.
    pub fn decode_into(
        &mut self,
        codecs: &ChunkCodecs,
        stored: &[u8],
        out: &mut [u8],
        key: &dyn Fn() -> String,
    ) -> Result<()> {
        let mut data = stored;
        if codecs.crc32c {
            data = strip_crc32c(data, key)?;
        }
        let Some(_) = codecs.zstd else {
            if data.len() != out.len() {
                return Err(corrupt(
                    &key(),
                    format!(
                        "uncompressed chunk has {} bytes, expected {}",
                        data.len(),
                        out.len()
                    ),
                ));
            }
            out.copy_from_slice(data);
            return Ok(());
        };
        // The first frame header states its content size; more than the whole chunk cannot
        // be right, so reject it before decoding anything. (A smaller size could be followed
        // by further frames; decoding below checks the total.)
        if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data) {
            if size > out.len() as u64 {
                return Err(corrupt(
                    &key(),
                    format!(
                        "zstd frame declares {size} bytes, expected {} bytes",
                        out.len()
                    ),
                ));
            }
        }
        let ctx = match &mut self.ctx {
            Some(ctx) => ctx,
            slot => slot
                .insert(zstd::bulk::Decompressor::new().map_err(|e| Error::Source(Box::new(e)))?),
        };
        let n = ctx.decompress_to_buffer(data, out).map_err(|e| {
            let reason = if e.to_string().contains("Destination buffer is too small") {
                format!("decompresses to more than the expected {} bytes", out.len())
            } else {
                format!("invalid zstd data: {e}")
            };
            corrupt(&key(), reason)
        })?;
        if n != out.len() {
            return Err(corrupt(
                &key(),
                format!("decompresses to {n} bytes, expected {}", out.len()),
            ));
        }
        Ok(())
    }
}

/// Verifies and removes a trailing little-endian crc32c.
fn strip_crc32c<'a>(data: &'a [u8], key: &dyn Fn() -> String) -> Result<&'a [u8]> {
    if data.len() < 4 {
        return Err(corrupt(&key(), "too short to hold its crc32c"));
    }
    let (body, tail) = data.split_at(data.len() - 4);
    let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(Error::ShardIndexChecksum {
            key: key(),
            stored,
            computed,
        });
    }
    Ok(body)
}

/// Encodes a chunk's disk-form element bytes through `codecs`.
pub(crate) fn encode_codecs(codecs: &ChunkCodecs, disk: Vec<u8>) -> Result<Vec<u8>> {
    let mut data = match codecs.zstd {
        None => disk,
        Some(z) => {
            let mut c =
                zstd::bulk::Compressor::new(z.level).map_err(|e| Error::Source(e.into()))?;
            c.include_checksum(z.checksum)
                .map_err(|e| Error::Source(e.into()))?;
            c.compress(&disk).map_err(|e| Error::Source(e.into()))?
        }
    };
    if codecs.crc32c {
        let crc = crc32c::crc32c(&data);
        data.extend_from_slice(&crc.to_le_bytes());
    }
    Ok(data)
}

/// Whether `dtype`'s on-disk form in byte order `endian` is its host form byte for byte, so
/// that a chunk can be compressed straight from the caller's memory.
fn disk_form_is_host_form(dtype: DType, endian: Endian) -> bool {
    !matches!(
        dtype,
        DType::Bool | DType::Int4 | DType::Int2 | DType::Float4E2M1Fn
    ) && (endian == Endian::Little || dtype.component_size() == 1)
}

/// Encodes chunks for a writer, one encoder per worker thread: it keeps its zstd context and
/// its buffers from chunk to chunk, and reads a chunk straight out of the caller's array when
/// the chunk is one contiguous, unpadded run of it whose disk form is its host form (e.g. any
/// chunk of an array chunked only along its first axis): no copy, no fresh memory to fault in.
#[derive(Default)]
pub struct ChunkEncoder {
    compressor: Option<(ZstdConfig, zstd::bulk::Compressor<'static>)>,
    /// Worker threads of the zstd context (0 = compress on the calling thread).
    workers: u32,
    /// A chunk copied out of the array (strided, padded, or converted to its disk form).
    staged: Vec<u8>,
    encoded: Vec<u8>,
}

impl std::fmt::Debug for ChunkEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkEncoder")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl ChunkEncoder {
    /// An encoder that compresses on the calling thread.
    pub fn new() -> ChunkEncoder {
        ChunkEncoder::default()
    }

    /// Lets zstd split each chunk across `workers` extra threads (0 = none). Worth it for a
    /// chunk much larger than zstd's job size when there are fewer chunks than cores; the
    /// output is an ordinary zstd frame.
    pub fn set_workers(&mut self, workers: u32) {
        if workers != self.workers {
            self.workers = workers;
            self.compressor = None;
        }
    }

    /// Encodes the grid chunk at `indices` of the whole array `array_host` (host form, C
    /// order) into the bytes stored under its chunk key. Same result as [`extract_chunk`]
    /// followed by [`encode_chunk`]. The returned bytes live until the next call.
    pub fn encode_array_chunk<'s>(
        &'s mut self,
        meta: &ArrayMetadata,
        array_host: &'s [u8],
        indices: &[u64],
    ) -> Result<&'s [u8]> {
        if meta.sharding().is_some() {
            let chunk = extract_chunk(meta, array_host, indices)?;
            self.encoded = encode_chunk(meta, &chunk)?;
            return Ok(&self.encoded);
        }
        let (start, len) = chunk_box(meta, array_host, indices)?;
        let dtype = meta.dtype();
        let elem = dtype.host_size();
        let cs = meta.chunk_shape();
        let codecs = meta.codecs();
        let whole = len == cs;
        let direct = whole
            && is_contiguous(&len, meta.shape())
            && disk_form_is_host_form(dtype, codecs.endian);
        let n = meta.chunk_host_bytes();
        let direct_offset = direct.then(|| {
            start
                .iter()
                .zip(strides(meta.shape()))
                .map(|(s, st)| s * st)
                .sum::<u64>() as usize
                * elem
        });
        if direct_offset.is_none() {
            self.staged.resize(n, 0);
            self.staged.truncate(n);
            if !whole {
                crate::grid::fill_pattern(&mut self.staged, meta.fill_value().host_bytes());
            }
            copy_box(
                array_host,
                BoxIn {
                    shape: meta.shape(),
                    start: &start,
                },
                &mut self.staged,
                BoxIn {
                    shape: cs,
                    start: &vec![0; cs.len()],
                },
                &len,
                elem,
            );
            host_to_disk_with_endian(dtype, codecs.endian, &mut self.staged);
        }
        let ChunkEncoder {
            compressor,
            workers,
            staged,
            encoded,
        } = self;
        let staged: &'s Vec<u8> = staged;
        let source: &'s [u8] = match direct_offset {
            Some(offset) => &array_host[offset..offset + n],
            None => staged,
        };
        match codecs.zstd {
            None if !codecs.crc32c => Ok(source),
            None => {
                encoded.clear();
                encoded.extend_from_slice(source);
                let crc = crc32c::crc32c(encoded);
                encoded.extend_from_slice(&crc.to_le_bytes());
                Ok(encoded)
            }
            Some(z) => {
                let source_error = |e: std::io::Error| Error::Source(e.into());
                if compressor.as_ref().is_none_or(|(c, _)| *c != z) {
                    let mut c = zstd::bulk::Compressor::new(z.level).map_err(source_error)?;
                    c.include_checksum(z.checksum).map_err(source_error)?;
                    if *workers > 0 {
                        c.set_parameter(zstd::zstd_safe::CParameter::NbWorkers(*workers))
                            .map_err(source_error)?;
                    }
                    *compressor = Some((z, c));
                }
                let (_, c) = compressor.as_mut().expect("set above");
                encoded.clear();
                encoded.reserve(zstd::zstd_safe::compress_bound(source.len()));
                c.compress_to_buffer(source, encoded)
                    .map_err(source_error)?;
                if codecs.crc32c {
                    let crc = crc32c::crc32c(encoded);
                    encoded.extend_from_slice(&crc.to_le_bytes());
                }
                Ok(encoded)
            }
        }
    }
}

/// The origin and the in-array extent of the grid chunk at `indices`, after checking the
/// array's size and the indices.
fn chunk_box(
    meta: &ArrayMetadata,
    array_host: &[u8],
    chunk_indices: &[u64],
) -> Result<(Vec<u64>, Vec<u64>)> {
    let elem = meta.dtype().host_size();
    let expected = meta.num_elements() as usize * elem;
    if array_host.len() != expected {
        return Err(Error::InvalidArgument(format!(
            "array of shape {:?} {} needs {expected} bytes, got {}",
            meta.shape(),
            meta.dtype(),
            array_host.len()
        )));
    }
    let grid = meta.chunk_grid_shape();
    if chunk_indices.len() != grid.len() || chunk_indices.iter().zip(&grid).any(|(i, g)| i >= g) {
        return Err(Error::InvalidArgument(format!(
            "chunk {chunk_indices:?} is outside the chunk grid {grid:?}"
        )));
    }
    let cs = meta.chunk_shape();
    let start: Vec<u64> = chunk_indices.iter().zip(cs).map(|(i, c)| i * c).collect();
    let len: Vec<u64> = start
        .iter()
        .zip(cs)
        .zip(meta.shape())
        .map(|((s, c), n)| (*c).min(n - s))
        .collect();
    Ok((start, len))
}

/// Byte size of a shard index with `n` entries.
pub(crate) fn index_size(sharding: &Sharding, n: usize) -> usize {
    n * 16 + if sharding.index_crc32c { 4 } else { 0 }
}

/// Decodes a shard index (checking its crc32c) into `(offset, nbytes)` entries.
pub(crate) fn decode_index(
    sharding: &Sharding,
    bytes: &[u8],
    n: usize,
    key: &dyn Fn() -> String,
) -> Result<Vec<(u64, u64)>> {
    if bytes.len() != index_size(sharding, n) {
        return Err(corrupt(
            &key(),
            format!(
                "shard index has {} bytes, expected {}",
                bytes.len(),
                index_size(sharding, n)
            ),
        ));
    }
    let body = if sharding.index_crc32c {
        strip_crc32c(bytes, key)?
    } else {
        bytes
    };
    let read = |c: &[u8]| {
        let b: [u8; 8] = c.try_into().expect("8 bytes");
        match sharding.index_endian {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    };
    Ok(body
        .chunks_exact(16)
        .map(|e| (read(&e[..8]), read(&e[8..])))
        .collect())
}

/// Number of inner chunks per shard and the inner grid shape.
pub(crate) fn inner_grid(meta: &ArrayMetadata, sharding: &Sharding) -> (Vec<u64>, usize) {
    let grid: Vec<u64> = meta
        .chunk_shape()
        .iter()
        .zip(&sharding.chunk_shape)
        .map(|(o, i)| o / i)
        .collect();
    let n = grid.iter().product::<u64>() as usize;
    (grid, n)
}

/// Encodes one full grid chunk (a whole shard for sharded arrays) given in host form, into
/// the bytes stored under its chunk key. Edge chunks must already be padded to the full chunk
/// shape (see [`extract_chunk`]).
pub fn encode_chunk(meta: &ArrayMetadata, chunk_host: &[u8]) -> Result<Vec<u8>> {
    if chunk_host.len() != meta.chunk_host_bytes() {
        return Err(Error::InvalidArgument(format!(
            "a chunk of shape {:?} {} needs {} bytes, got {}",
            meta.chunk_shape(),
            meta.dtype(),
            meta.chunk_host_bytes(),
            chunk_host.len()
        )));
    }
    let dtype = meta.dtype();
    let Some(sharding) = meta.sharding() else {
        let mut disk = chunk_host.to_vec();
        host_to_disk_with_endian(dtype, meta.endian(), &mut disk);
        return encode_codecs(meta.codecs(), disk);
    };
    let (grid, n) = inner_grid(meta, sharding);
    let inner_bytes = sharding.chunk_shape.iter().product::<u64>() as usize * dtype.host_size();
    let mut chunks = Vec::with_capacity(n);
    let zeros = vec![0u64; grid.len()];
    for_each_index(&zeros, &grid, |j| {
        let start: Vec<u64> = j
            .iter()
            .zip(&sharding.chunk_shape)
            .map(|(a, b)| a * b)
            .collect();
        let mut inner = vec![0u8; inner_bytes];
        let origin = vec![0u64; grid.len()];
        copy_box(
            chunk_host,
            BoxIn {
                shape: meta.chunk_shape(),
                start: &start,
            },
            &mut inner,
            BoxIn {
                shape: &sharding.chunk_shape,
                start: &origin,
            },
            &sharding.chunk_shape,
            dtype.host_size(),
        );
        host_to_disk_with_endian(dtype, sharding.codecs.endian, &mut inner);
        chunks.push(inner);
    });
    let mut encoded = Vec::with_capacity(n);
    for inner in chunks {
        encoded.push(encode_codecs(&sharding.codecs, inner)?);
    }
    let index_len = index_size(sharding, n);
    let data_start = match sharding.index_location {
        IndexLocation::Start => index_len as u64,
        IndexLocation::End => 0,
    };
    let mut index = Vec::with_capacity(index_len);
    let mut offset = data_start;
    for e in &encoded {
        let len = e.len() as u64;
        for v in [offset, len] {
            index.extend_from_slice(&match sharding.index_endian {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            });
        }
        offset += len;
    }
    if sharding.index_crc32c {
        let crc = crc32c::crc32c(&index);
        index.extend_from_slice(&crc.to_le_bytes());
    }
    let body: Vec<u8> = encoded.concat();
    Ok(match sharding.index_location {
        IndexLocation::Start => [index, body].concat(),
        IndexLocation::End => [body, index].concat(),
    })
}

/// Decodes the bytes stored under a chunk key into one full grid chunk in host form.
/// `key` names the chunk in errors. Absent inner chunks of a shard read as the fill value.
pub fn decode_chunk(meta: &ArrayMetadata, key: &str, stored: &[u8]) -> Result<Vec<u8>> {
    let dtype = meta.dtype();
    let mut out = vec![0u8; meta.chunk_host_bytes()];
    let mut decoder = Decoder::new();
    let key_fn = || key.to_owned();
    let Some(sharding) = meta.sharding() else {
        decoder.decode_into(meta.codecs(), stored, &mut out, &key_fn)?;
        disk_to_host_in_place(dtype, meta.endian(), &mut out);
        return Ok(out);
    };
    let (grid, n) = inner_grid(meta, sharding);
    let index_len = index_size(sharding, n);
    if stored.len() < index_len {
        return Err(corrupt(key, "shard is shorter than its index"));
    }
    let index_bytes = match sharding.index_location {
        IndexLocation::Start => &stored[..index_len],
        IndexLocation::End => &stored[stored.len() - index_len..],
    };
    let entries = decode_index(sharding, index_bytes, n, &key_fn)?;
    let inner_bytes = sharding.chunk_shape.iter().product::<u64>() as usize * dtype.host_size();
    let mut inner = vec![0u8; inner_bytes];
    let zeros = vec![0u64; grid.len()];
    let mut result = Ok(());
    let mut linear = 0usize;
    for_each_index(&zeros, &grid, |j| {
        if result.is_err() {
            return;
        }
        let entry = entries[linear];
        linear += 1;
        let r = (|| {
            if entry == EMPTY_ENTRY {
                crate::grid::fill_pattern(&mut inner, meta.fill_value().host_bytes());
            } else {
                let bytes = slice_entry(stored, entry, key)?;
                decoder.decode_into(&sharding.codecs, bytes, &mut inner, &|| {
                    format!("{key} (inner chunk {j:?})")
                })?;
                disk_to_host_in_place(dtype, sharding.codecs.endian, &mut inner);
            }
            let start: Vec<u64> = j
                .iter()
                .zip(&sharding.chunk_shape)
                .map(|(a, b)| a * b)
                .collect();
            let origin = vec![0u64; j.len()];
            copy_box(
                &inner,
                BoxIn {
                    shape: &sharding.chunk_shape,
                    start: &origin,
                },
                &mut out,
                BoxIn {
                    shape: meta.chunk_shape(),
                    start: &start,
                },
                &sharding.chunk_shape,
                dtype.host_size(),
            );
            Ok(())
        })();
        result = r;
    });
    result.map(|()| out)
}

/// The bytes of one index entry within a whole shard, bounds-checked.
pub(crate) fn slice_entry<'a>(
    shard: &'a [u8],
    (offset, nbytes): (u64, u64),
    key: &str,
) -> Result<&'a [u8]> {
    let end = offset.checked_add(nbytes);
    match end {
        Some(end) if end <= shard.len() as u64 => Ok(&shard[offset as usize..end as usize]),
        _ => Err(corrupt(
            key,
            format!(
                "shard index entry {offset}+{nbytes} runs past the end of the shard ({} bytes)",
                shard.len()
            ),
        )),
    }
}

/// Copies the grid chunk at `chunk_indices` out of a whole array in host form, padding the
/// part beyond the array edge with the fill value: what a writer passes to [`encode_chunk`].
pub fn extract_chunk(
    meta: &ArrayMetadata,
    array_host: &[u8],
    chunk_indices: &[u64],
) -> Result<Vec<u8>> {
    let elem = meta.dtype().host_size();
    let (start, len) = chunk_box(meta, array_host, chunk_indices)?;
    let cs = meta.chunk_shape();
    let mut out = vec![0u8; meta.chunk_host_bytes()];
    if len != cs {
        crate::grid::fill_pattern(&mut out, meta.fill_value().host_bytes());
    }
    let origin = vec![0u64; cs.len()];
    copy_box(
        array_host,
        BoxIn {
            shape: meta.shape(),
            start: &start,
        },
        &mut out,
        BoxIn {
            shape: cs,
            start: &origin,
        },
        &len,
        elem,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::metadata::ZarrFormat;

    #[test]
    fn spec_examples_decode() {
        // zarr v2: int64 7, float32 zeros[3], int16 [1, 2] (orbax-layout §5).
        let cases: [(DType, &[u64], &str, Vec<u8>); 3] = [
            (
                DType::Int64,
                &[],
                "28b52ffd20084100000700000000000000",
                7i64.to_le_bytes().to_vec(),
            ),
            (
                DType::Float32,
                &[3],
                "28b52ffd200c610000000000000000000000000000",
                vec![0; 12],
            ),
            (
                DType::Int16,
                &[2],
                "28b52ffd200421000001000200",
                vec![1, 0, 2, 0],
            ),
        ];
        for (dtype, shape, hex, expected) in cases {
            let meta = ArrayMetadata::new_v2(dtype, shape, shape, Some(1)).unwrap();
            let stored = hex::decode(hex).unwrap();
            assert_eq!(decode_chunk(&meta, "k", &stored).unwrap(), expected);
        }
        // zarr v3 shard, uncompressed uint8 [1, 2] (orbax-layout §6).
        let meta = ArrayMetadata::new_v3(DType::UInt8, &[2], &[2], None).unwrap();
        let stored = hex::decode("010200000000000000000200000000000000a46008d0").unwrap();
        assert_eq!(decode_chunk(&meta, "k", &stored).unwrap(), [1, 2]);
        // ... and our encoder produces exactly those bytes.
        assert_eq!(encode_chunk(&meta, &[1, 2]).unwrap(), stored);
    }

    #[test]
    fn round_trips_through_every_layout() {
        let host: Vec<u8> = [-1i8, 7, -8, 0, 3, -2].iter().map(|&v| v as u8).collect();
        for meta in [
            ArrayMetadata::new_v2(DType::Int4, &[2, 3], &[2, 3], Some(1)).unwrap(),
            ArrayMetadata::new_v2(DType::Int4, &[2, 3], &[2, 3], None).unwrap(),
            ArrayMetadata::new_v3(DType::Int4, &[2, 3], &[2, 3], Some(3)).unwrap(),
            ArrayMetadata::new_v3(DType::Int4, &[2, 3], &[2, 3], None).unwrap(),
        ] {
            let stored = encode_chunk(&meta, &host).unwrap();
            assert_eq!(decode_chunk(&meta, "k", &stored).unwrap(), host);
        }
        // Uncompressed int4 is stored as masked nibbles.
        let meta = ArrayMetadata::new_v2(DType::Int4, &[2, 3], &[2, 3], None).unwrap();
        assert_eq!(
            encode_chunk(&meta, &host).unwrap(),
            [0x0f, 0x07, 0x08, 0x00, 0x03, 0x0e]
        );
    }

    #[test]
    fn shards_with_several_inner_chunks_and_index_at_start() {
        let text = r#"{"chunk_grid":{"configuration":{"chunk_shape":[4,4]},"name":"regular"},"chunk_key_encoding":{"name":"default"},"codecs":[{"configuration":{"chunk_shape":[2,2],"codecs":[{"configuration":{"endian":"big"},"name":"bytes"},{"configuration":{"checksum":true,"level":3},"name":"zstd"},{"name":"crc32c"}],"index_codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"name":"crc32c"}],"index_location":"start"},"name":"sharding_indexed"}],"data_type":"uint16","fill_value":9,"node_type":"array","shape":[4,4],"zarr_format":3}"#;
        let meta = ArrayMetadata::parse(text, ZarrFormat::V3, "t").unwrap();
        assert_eq!(meta.encode(), text);
        let host: Vec<u8> = (0u16..16).flat_map(|v| v.to_le_bytes()).collect();
        let stored = encode_chunk(&meta, &host).unwrap();
        assert_eq!(decode_chunk(&meta, "k", &stored).unwrap(), host);
        // Mark inner chunk 1 absent in the index: it reads as the fill value.
        let mut edited = stored.clone();
        edited[16..32].copy_from_slice(&[0xff; 16]);
        let crc = crc32c::crc32c(&edited[..64]);
        edited[64..68].copy_from_slice(&crc.to_le_bytes());
        let decoded = decode_chunk(&meta, "k", &edited).unwrap();
        let value = |r: usize, c: usize| {
            u16::from_le_bytes([decoded[(r * 4 + c) * 2], decoded[(r * 4 + c) * 2 + 1]])
        };
        assert_eq!(value(0, 2), 9);
        assert_eq!(value(1, 3), 9);
        assert_eq!(value(0, 1), 1);
        assert_eq!(value(2, 2), 10);
    }

    #[test]
    fn corrupt_chunks_are_typed() {
        let meta = ArrayMetadata::new_v2(DType::Float32, &[4], &[4], Some(1)).unwrap();
        let good = encode_chunk(&meta, &[0u8; 16]).unwrap();
        // Truncated.
        let e = decode_chunk(&meta, "/w/0", &good[..good.len() - 3]).unwrap_err();
        assert!(
            matches!(&e, Error::CorruptChunk { key, .. } if key == "/w/0"),
            "{e}"
        );
        // Not zstd at all.
        let e = decode_chunk(&meta, "/w/0", b"definitely not zstd").unwrap_err();
        assert_eq!(e.code(), "ERR_ZARR_CORRUPT_CHUNK");
        assert!(e.to_string().contains("invalid zstd"), "{e}");
        // Valid zstd of the wrong size, with and without a content size in the header.
        let small = zstd::bulk::compress(&[0u8; 8], 1).unwrap();
        let e = decode_chunk(&meta, "/w/0", &small).unwrap_err();
        assert!(
            e.to_string()
                .contains("decompresses to 8 bytes, expected 16"),
            "{e}"
        );
        let big = zstd::bulk::compress(&[0u8; 1 << 20], 1).unwrap();
        let e = decode_chunk(&meta, "/w/0", &big).unwrap_err();
        assert!(
            e.to_string()
                .contains("declares 1048576 bytes, expected 16"),
            "{e}"
        );
        // Two frames of 8 bytes each make one valid 16-byte chunk.
        let two = [small.clone(), zstd::bulk::compress(&[1u8; 8], 1).unwrap()].concat();
        let mut want = vec![0u8; 8];
        want.extend_from_slice(&[1u8; 8]);
        assert_eq!(decode_chunk(&meta, "/w/0", &two).unwrap(), want);
        for (payload, fragment) in [
            (&[0u8; 64][..], "more than the expected 16"),
            (&[0u8; 8][..], "decompresses to 8 bytes"),
        ] {
            let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
            enc.include_contentsize(false).unwrap();
            std::io::Write::write_all(&mut enc, payload).unwrap();
            let frame = enc.finish().unwrap();
            let e = decode_chunk(&meta, "/w/0", &frame).unwrap_err();
            assert!(e.to_string().contains(fragment), "{e}");
        }
        // Raw chunk of the wrong length.
        let raw = ArrayMetadata::new_v2(DType::Float32, &[4], &[4], None).unwrap();
        let e = decode_chunk(&raw, "/r/0", &[0u8; 15]).unwrap_err();
        assert!(e.to_string().contains("15 bytes, expected 16"), "{e}");
    }

    #[test]
    fn shard_index_checksum_and_bounds() {
        let meta = ArrayMetadata::new_v3(DType::UInt8, &[2], &[2], None).unwrap();
        let mut stored = encode_chunk(&meta, &[1, 2]).unwrap();
        let n = stored.len();
        stored[n - 1] ^= 0xff;
        let e = decode_chunk(&meta, "s/c/0", &stored).unwrap_err();
        assert!(matches!(e, Error::ShardIndexChecksum { ref key, .. } if key == "s/c/0"));
        assert_eq!(e.code(), "ERR_ZARR_CHECKSUM");
        // An index entry pointing past the end (with a valid checksum).
        let mut stored = encode_chunk(&meta, &[1, 2]).unwrap();
        let n = stored.len();
        stored[n - 12] = 200; // nbytes low byte
        let crc = crc32c::crc32c(&stored[n - 20..n - 4]);
        stored[n - 4..].copy_from_slice(&crc.to_le_bytes());
        let e = decode_chunk(&meta, "s/c/0", &stored).unwrap_err();
        assert!(e.to_string().contains("past the end of the shard"), "{e}");
        let e = decode_chunk(&meta, "s/c/0", &[0u8; 5]).unwrap_err();
        assert_eq!(e.code(), "ERR_ZARR_CORRUPT_CHUNK");
    }

    #[test]
    fn extract_chunk_pads_edges_with_the_fill_value() {
        let meta = ArrayMetadata::new_v2(DType::UInt8, &[3, 3], &[2, 2], None).unwrap();
        let array: Vec<u8> = (1..=9).collect();
        assert_eq!(extract_chunk(&meta, &array, &[0, 0]).unwrap(), [1, 2, 4, 5]);
        assert_eq!(extract_chunk(&meta, &array, &[1, 1]).unwrap(), [9, 0, 0, 0]);
        assert_eq!(extract_chunk(&meta, &array, &[0, 1]).unwrap(), [3, 0, 6, 0]);
        assert!(extract_chunk(&meta, &array, &[2, 0]).is_err());
        assert!(extract_chunk(&meta, &array[1..], &[0, 0]).is_err());
        assert!(encode_chunk(&meta, &[0; 3]).is_err());
    }

    #[test]
    fn the_chunk_encoder_matches_extract_then_encode() {
        let cases: Vec<(DType, Vec<u64>, Vec<u64>, bool)> = vec![
            (DType::Float32, vec![8, 6], vec![8, 6], false), // one chunk, borrowed
            (DType::Float32, vec![8, 6], vec![2, 6], false), // row slabs, borrowed
            (DType::Float32, vec![7, 6], vec![2, 6], false), // padded last slab
            (DType::Float32, vec![8, 6], vec![4, 4], false), // column split: staged
            (DType::BFloat16, vec![5, 3], vec![5, 3], true),
            (DType::Bool, vec![9], vec![4], false), // normalised on the way to disk
            (DType::Int4, vec![6], vec![6], true),
            (DType::Int64, vec![], vec![], false),
            (DType::Float32, vec![4, 4], vec![2, 4], true), // zarr v3 shards
        ];
        for (dtype, shape, chunks, v3) in cases {
            let n = shape.iter().product::<u64>() as usize * dtype.host_size();
            let array: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            for level in [None, Some(1)] {
                let meta = if v3 {
                    ArrayMetadata::new_v3(dtype, &shape, &chunks, level).unwrap()
                } else {
                    ArrayMetadata::new_v2(dtype, &shape, &chunks, level).unwrap()
                };
                let mut encoder = ChunkEncoder::new();
                for_each_index(&vec![0; shape.len()], &meta.chunk_grid_shape(), |idx| {
                    let expected =
                        encode_chunk(&meta, &extract_chunk(&meta, &array, idx).unwrap()).unwrap();
                    let got = encoder.encode_array_chunk(&meta, &array, idx).unwrap();
                    assert_eq!(got, &expected[..], "{dtype} {shape:?} {chunks:?} {idx:?}");
                });
            }
        }
        // Several zstd threads write another (equally valid) frame of the same chunk.
        let meta = ArrayMetadata::new_v2(DType::Float32, &[1 << 20], &[1 << 20], Some(1)).unwrap();
        let array: Vec<u8> = (0..4u32 << 20).map(|i| (i % 253) as u8).collect();
        let mut encoder = ChunkEncoder::new();
        encoder.set_workers(2);
        let stored = encoder
            .encode_array_chunk(&meta, &array, &[0])
            .unwrap()
            .to_vec();
        assert_eq!(decode_chunk(&meta, "k", &stored).unwrap(), array);
        let mut encoder = ChunkEncoder::new();
        assert!(encoder
            .encode_array_chunk(&meta, &array[1..], &[0])
            .is_err());
        assert!(encoder.encode_array_chunk(&meta, &array, &[1]).is_err());
    }
}
