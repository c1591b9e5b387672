//! The envelope shared by manifests, version-tree nodes and B+tree nodes (spec §3):
//! `magic (u32be) ‖ length (u64le) ‖ version (varint) ‖ compression (varint) ‖ body ‖ crc32c (u32le)`.

use bytes::Bytes;
use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

use crate::codec::{put_varint, Reader};
use crate::error::{Error, Result};

/// Hard upper bound of an encoded object (manifest or node) and of a decoded body.
///
/// No valid database comes near it (Orbax's node size target is 100 MB), and it keeps a
/// corrupted or hostile length field from turning into a multi-gigabyte allocation.
pub const MAX_OBJECT_BYTES: u64 = 512 << 20;

/// Fixed part of the envelope: magic, length, and the trailing CRC.
const HEADER_BYTES: usize = 12;
const CRC_BYTES: usize = 4;

/// The first four bytes of a standard zstd frame (`0xFD2FB528`, little-endian).
const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Which kind of object an envelope holds; each has its own magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `manifest.ocdbt` and numbered manifests (`0x0CDB3A2A`).
    Manifest,
    /// A version-tree node (`0x0CDB1234`).
    VersionNode,
    /// A B+tree node (`0x0CDB20DE`).
    BtreeNode,
}

impl Magic {
    /// The magic number, as stored big-endian at offset 0.
    pub fn value(self) -> u32 {
        match self {
            Magic::Manifest => 0x0CDB_3A2A,
            Magic::VersionNode => 0x0CDB_1234,
            Magic::BtreeNode => 0x0CDB_20DE,
        }
    }

    /// Human-readable name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Magic::Manifest => "manifest",
            Magic::VersionNode => "version tree node",
            Magic::BtreeNode => "b+tree node",
        }
    }
}

/// How an envelope's body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Body stored raw (method 0).
    None,
    /// Body stored as one zstd frame (method 1). `level` is what the config records; `0` means
    /// zstd's default level (3), which is what TensorStore and Orbax use.
    Zstd {
        /// zstd compression level, in `[-131072, 22]`.
        level: i32,
    },
}

/// Limits applied while decoding an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted `length` field.
    pub max_encoded_bytes: u64,
    /// Largest accepted decompressed body.
    pub max_decoded_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_encoded_bytes: MAX_OBJECT_BYTES,
            max_decoded_bytes: MAX_OBJECT_BYTES,
        }
    }
}

/// Wraps `body` in an envelope of kind `magic`, compressing it as requested.
///
/// With zstd the body becomes exactly one frame that records its content size, like
/// TensorStore writes.
pub fn encode_envelope(magic: Magic, body: &[u8], compression: Compression) -> Result<Vec<u8>> {
    let (method, payload): (u64, std::borrow::Cow<'_, [u8]>) = match compression {
        Compression::None => (0, body.into()),
        Compression::Zstd { level } => {
            let frame = zstd::bulk::compress(body, level).map_err(|e| Error::InvalidInput {
                what: format!("zstd compression failed: {e}"),
            })?;
            (1, frame.into())
        }
    };
    let total = HEADER_BYTES + 2 + payload.len() + CRC_BYTES;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&magic.value().to_be_bytes());
    out.extend_from_slice(&(total as u64).to_le_bytes());
    put_varint(&mut out, 0);
    put_varint(&mut out, method);
    out.extend_from_slice(&payload);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len(), total);
    Ok(out)
}

/// Checks the envelope of `encoded` (magic, length, CRC, version, compression) and returns
/// the decompressed body.
pub fn decode_envelope(encoded: &[u8], magic: Magic) -> Result<Bytes> {
    decode_envelope_with_limits(encoded, magic, DecodeLimits::default())
}

/// [`decode_envelope`] with explicit size limits.
pub fn decode_envelope_with_limits(
    encoded: &[u8],
    magic: Magic,
    limits: DecodeLimits,
) -> Result<Bytes> {
    let mut r = Reader::new(encoded);
    let found = u32::from_be_bytes(r.array("envelope magic")?);
    if found != magic.value() {
        return Err(Error::BadMagic {
            expected: magic.value(),
            found,
            kind: magic.name(),
        });
    }
    let declared = r.u64le("envelope length")?;
    if declared > limits.max_encoded_bytes {
        return Err(Error::TooLarge {
            what: "envelope length",
            size: declared,
            limit: limits.max_encoded_bytes,
        });
    }
    let actual = encoded.len() as u64;
    if declared != actual {
        return Err(Error::LengthMismatch { declared, actual });
    }
    if encoded.len() < HEADER_BYTES + CRC_BYTES {
        return Err(Error::Truncated {
            what: "envelope checksum",
        });
    }
    let (covered, crc_bytes) = encoded.split_at(encoded.len() - CRC_BYTES);
    let expected = u32::from_le_bytes(crc_bytes.try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(covered);
    if expected != computed {
        return Err(Error::Checksum {
            expected,
            actual: computed,
        });
    }
    let mut r = Reader::new(&covered[HEADER_BYTES..]);
    let version = r.varint32("envelope format version")?;
    if version != 0 {
        return Err(Error::UnsupportedVersion(version));
    }
    let method = r.varint32("envelope compression method")?;
    let payload = &covered[HEADER_BYTES + r.position()..];
    match method {
        0 => {
            if payload.len() as u64 > limits.max_decoded_bytes {
                return Err(Error::TooLarge {
                    what: "body",
                    size: payload.len() as u64,
                    limit: limits.max_decoded_bytes,
                });
            }
            Ok(Bytes::copy_from_slice(payload))
        }
        1 => decompress_one_frame(payload, limits.max_decoded_bytes).map(Bytes::from),
        other => Err(Error::UnsupportedCompression(other)),
    }
}

/// Decodes exactly one zstd frame that must span all of `input`.
///
/// A streaming decoder is used because it reports how much input the frame consumed: a
/// second frame or trailing garbage (which TensorStore rejects, but `zstd::decode_all` would
/// silently accept) is then detectable. Output is grown incrementally and capped at `limit`,
/// so neither a lying content-size header nor a decompression bomb allocates beyond it.
fn decompress_one_frame(input: &[u8], limit: u64) -> Result<Vec<u8>> {
    if input.len() < ZSTD_FRAME_MAGIC.len() {
        return Err(Error::Truncated {
            what: "zstd frame header",
        });
    }
    if input[..4] != ZSTD_FRAME_MAGIC {
        return Err(Error::Zstd(
            "body does not start with a zstd frame (skippable frames and dictionaries are not used by OCDBT)"
                .into(),
        ));
    }
    let declared = match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(size) => size,
        Err(_) => {
            return Err(Error::Zstd("unreadable zstd frame header".into()));
        }
    };
    if let Some(size) = declared {
        if size > limit {
            return Err(Error::TooLarge {
                what: "zstd content size",
                size,
                limit,
            });
        }
    }
    let mut decoder = Decoder::new().map_err(|e| Error::Zstd(e.to_string()))?;
    // Enough window for any body under the limit; zstd's default (2^27) would refuse large
    // but valid single-segment frames.
    let window_log = 64 - (limit.max(1) - 1).leading_zeros();
    decoder
        .set_parameter(DParameter::WindowLogMax(window_log.clamp(27, 31)))
        .map_err(|e| Error::Zstd(e.to_string()))?;

    // Trust the declared size only as far as the compressed input could plausibly expand,
    // so a tiny frame claiming hundreds of megabytes cannot force a large allocation.
    let plausible = (input.len() as u64).saturating_mul(64).saturating_add(4096);
    let initial = declared.unwrap_or(0).min(plausible).min(limit);
    let mut out: Vec<u8> = Vec::with_capacity(initial as usize);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut in_buf = InBuffer::around(input);
    loop {
        let before_in = in_buf.pos();
        let mut out_buf = OutBuffer::around(&mut scratch[..]);
        let hint = decoder.run(&mut in_buf, &mut out_buf).map_err(|e| {
            let message = e.to_string();
            // A window beyond WindowLogMax is a hostile size, not a malformed frame.
            if message.contains("too much memory") {
                Error::TooLarge {
                    what: "zstd window size",
                    size: declared.unwrap_or(u64::MAX),
                    limit,
                }
            } else {
                Error::Zstd(message)
            }
        })?;
        let produced = out_buf.pos();
        if out.len() as u64 + produced as u64 > limit {
            return Err(Error::TooLarge {
                what: "decompressed body",
                size: out.len() as u64 + produced as u64,
                limit,
            });
        }
        out.extend_from_slice(&scratch[..produced]);
        if hint == 0 {
            // The frame is complete and fully flushed.
            break;
        }
        let consumed = in_buf.pos() - before_in;
        if consumed == 0 && produced == 0 {
            if in_buf.pos() == input.len() {
                return Err(Error::Truncated { what: "zstd frame" });
            }
            return Err(Error::Zstd("decoder made no progress".into()));
        }
    }
    let rest = input.len() - in_buf.pos();
    if rest != 0 {
        return Err(Error::TrailingBytes {
            what: "the zstd frame",
            count: rest as u64,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_envelope_round_trips() {
        let enc = encode_envelope(Magic::BtreeNode, b"hello", Compression::None).unwrap();
        assert_eq!(&enc[..4], &[0x0c, 0xdb, 0x20, 0xde]);
        assert_eq!(enc.len(), 12 + 2 + 5 + 4);
        assert_eq!(
            u64::from_le_bytes(enc[4..12].try_into().unwrap()),
            enc.len() as u64
        );
        assert_eq!(&enc[12..14], &[0, 0]);
        let body = decode_envelope(&enc, Magic::BtreeNode).unwrap();
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn zstd_envelope_round_trips() {
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        let enc = encode_envelope(Magic::Manifest, &body, Compression::Zstd { level: 0 }).unwrap();
        assert_eq!(enc[13], 1);
        assert!(enc.len() < body.len());
        assert_eq!(
            &decode_envelope(&enc, Magic::Manifest).unwrap()[..],
            &body[..]
        );
    }

    fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        let n = bytes.len();
        let len = n as u64;
        bytes[4..12].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    fn envelope_around(method: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&Magic::VersionNode.value().to_be_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&[0, method]);
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(&[0; 4]);
        reseal(bytes)
    }

    #[test]
    fn header_violations_have_precise_errors() {
        let good = encode_envelope(Magic::VersionNode, b"abc", Compression::None).unwrap();
        assert!(matches!(
            decode_envelope(&good, Magic::BtreeNode),
            Err(Error::BadMagic { .. })
        ));
        assert!(matches!(
            decode_envelope(&good[..good.len() - 1], Magic::VersionNode),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            decode_envelope(&good[..7], Magic::VersionNode),
            Err(Error::Truncated { .. })
        ));
        let mut flipped = good.clone();
        flipped[14] ^= 1;
        let err = decode_envelope(&flipped, Magic::VersionNode).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }));
        assert_eq!(err.code(), "ERR_OCDBT_CHECKSUM");
        let mut version1 = good.clone();
        version1[12] = 1;
        assert_eq!(
            decode_envelope(&reseal(version1), Magic::VersionNode),
            Err(Error::UnsupportedVersion(1))
        );
        let mut method2 = good.clone();
        method2[13] = 2;
        assert_eq!(
            decode_envelope(&reseal(method2), Magic::VersionNode),
            Err(Error::UnsupportedCompression(2))
        );
        let mut huge = good;
        huge[4..12].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let err = decode_envelope(&huge, Magic::VersionNode).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
        assert_eq!(err.code(), "ERR_OCDBT_TOO_LARGE");
    }

    #[test]
    fn zstd_bodies_must_be_exactly_one_frame() {
        let frame = zstd::bulk::compress(b"some body bytes", 3).unwrap();
        assert!(decode_envelope(&envelope_around(1, &frame), Magic::VersionNode).is_ok());

        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        assert!(matches!(
            decode_envelope(&envelope_around(1, &two), Magic::VersionNode),
            Err(Error::TrailingBytes { .. })
        ));
        let mut trailing = frame.clone();
        trailing.push(0);
        assert!(matches!(
            decode_envelope(&envelope_around(1, &trailing), Magic::VersionNode),
            Err(Error::TrailingBytes { .. })
        ));
        let cut = &frame[..frame.len() - 3];
        let err = decode_envelope(&envelope_around(1, cut), Magic::VersionNode).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { .. } | Error::Zstd(_)),
            "{err:?}"
        );
        // A skippable frame is not a zstd body.
        let skippable = [0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0];
        assert!(matches!(
            decode_envelope(&envelope_around(1, &skippable), Magic::VersionNode),
            Err(Error::Zstd(_))
        ));
    }

    #[test]
    fn zstd_frame_with_checksum_and_without_content_size_is_accepted() {
        let mut w = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        w.include_checksum(true).unwrap();
        w.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut w, b"payload payload payload").unwrap();
        let frame = w.finish().unwrap();
        assert_eq!(frame[4] & 0xc0, 0, "no content size");
        assert_eq!(frame[4] & 0x04, 4, "checksum flag");
        let body = decode_envelope(&envelope_around(1, &frame), Magic::VersionNode).unwrap();
        assert_eq!(&body[..], b"payload payload payload");
    }

    #[test]
    fn hostile_zstd_sizes_are_refused() {
        // Frame header: single segment, 8-byte content size of 2^40, then nothing.
        let mut frame = ZSTD_FRAME_MAGIC.to_vec();
        frame.push(0xe0);
        frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
        frame.extend_from_slice(&[1, 0, 0]);
        let err = decode_envelope(&envelope_around(1, &frame), Magic::VersionNode).unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { size, .. } if size == 1 << 40),
            "{err:?}"
        );

        // A bomb without a content size: 4 MiB of zeros against a 1 MiB limit.
        let mut w = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        w.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut w, &vec![0u8; 4 << 20]).unwrap();
        let bomb = w.finish().unwrap();
        let limits = DecodeLimits {
            max_encoded_bytes: MAX_OBJECT_BYTES,
            max_decoded_bytes: 1 << 20,
        };
        let err =
            decode_envelope_with_limits(&envelope_around(1, &bomb), Magic::VersionNode, limits)
                .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    }
}
