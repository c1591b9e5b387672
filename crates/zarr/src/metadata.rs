//! Array metadata: parsing `.zarray` (zarr v2) and `zarr.json` (zarr v3) within the subset
//! Orbax/TensorStore write, and encoding it back byte-identically to TensorStore.

use serde_json::Value;

use crate::cast::cast;
use crate::dtype::{DType, DTypeKind, Endian};
use crate::error::{Error, Result};
use crate::json::Json;

/// Which zarr version an array is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZarrFormat {
    /// `.zarray` + `<i>.<j>` chunks (Orbax's default).
    V2,
    /// `zarr.json` + `c/<i>/<j>` chunks (`use_zarr3=True`).
    V3,
}

impl ZarrFormat {
    /// Name of the metadata key under the array's prefix.
    pub fn metadata_file(self) -> &'static str {
        match self {
            ZarrFormat::V2 => ".zarray",
            ZarrFormat::V3 => "zarr.json",
        }
    }
}

/// The compression of an array's chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// Algorithm name; always `"zstd"` (the only compressor in the supported subset).
    pub algorithm: &'static str,
    /// Compression level as stored.
    pub level: i32,
}

/// zstd settings of a codec chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZstdConfig {
    /// Compression level (TensorStore: 1 for zarr v2, 3 for zarr v3).
    pub level: i32,
    /// Whether frames carry a content checksum (zarr v3 `checksum`; Orbax: false).
    pub checksum: bool,
}

/// The codecs that turn one chunk's elements into stored bytes, applied in this order on
/// write: element bytes (`endian`), then zstd, then a trailing crc32c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkCodecs {
    /// Byte order of elements.
    pub endian: Endian,
    /// zarr v3 only: whether the `bytes` codec carried an `endian` configuration (TensorStore
    /// omits it for one-byte types). Kept so metadata re-encodes identically.
    pub bytes_configured: bool,
    /// zstd compression, if any.
    pub zstd: Option<ZstdConfig>,
    /// A trailing crc32c checksum codec (zarr v3).
    pub crc32c: bool,
}

/// Where a shard keeps its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexLocation {
    /// Index first.
    Start,
    /// Index last (the zarr v3 default; what TensorStore writes).
    #[default]
    End,
}

/// A zarr v3 `sharding_indexed` codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharding {
    /// Shape of the inner chunks; divides the shard (outer chunk) shape.
    pub chunk_shape: Vec<u64>,
    /// Codecs of each inner chunk.
    pub codecs: ChunkCodecs,
    /// Byte order of the index entries.
    pub index_endian: Endian,
    /// Whether the index `bytes` codec carried a configuration.
    pub index_bytes_configured: bool,
    /// Whether the index is followed by its crc32c (TensorStore: always).
    pub index_crc32c: bool,
    /// Index position.
    pub index_location: IndexLocation,
}

/// How chunk indices become keys under the array's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKeyEncoding {
    /// zarr v3 `default`: `c/1/2` (separator `/` unless configured), 0-d `c`.
    Default {
        /// Separator between indices.
        separator: char,
    },
    /// zarr v2 style (v2 `dimension_separator`, or zarr v3 `v2` encoding): `1.2`, 0-d `0`.
    V2 {
        /// Separator between indices.
        separator: char,
    },
}

impl ChunkKeyEncoding {
    /// The key suffix (below `<param>/`) of the chunk at `indices`.
    pub fn suffix(&self, indices: &[u64]) -> String {
        use std::fmt::Write as _;
        match *self {
            ChunkKeyEncoding::Default { separator } => {
                let mut s = String::from("c");
                for i in indices {
                    let _ = write!(s, "{separator}{i}");
                }
                s
            }
            ChunkKeyEncoding::V2 { separator } => {
                if indices.is_empty() {
                    return "0".into();
                }
                let mut s = String::new();
                for (n, i) in indices.iter().enumerate() {
                    if n > 0 {
                        s.push(separator);
                    }
                    let _ = write!(s, "{i}");
                }
                s
            }
        }
    }
}

/// The fill value: the element that stands for missing chunks and pads edge chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct FillValue {
    json: Json,
    host: Vec<u8>,
}

impl FillValue {
    /// Whether the metadata says `null` (zarr v2 Orbax default); reads then use zeros.
    pub fn is_null(&self) -> bool {
        self.json == Json::Null
    }

    /// One element in host representation (zeros for `null`).
    pub fn host_bytes(&self) -> &[u8] {
        &self.host
    }

    /// The JSON text as TensorStore writes it (`null`, `0`, `0.0`, `false`, `[0.0,0.0]`,
    /// `"NaN"`...).
    pub fn json_text(&self) -> String {
        self.json.dump()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Layout {
    Plain(ChunkCodecs),
    Sharded(Sharding),
}

/// Parsed metadata of one zarr array, plus its exact stored text.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayMetadata {
    format: ZarrFormat,
    shape: Vec<u64>,
    chunk_shape: Vec<u64>,
    dtype: DType,
    fill_value: FillValue,
    key_encoding: ChunkKeyEncoding,
    layout: Layout,
    /// zarr v3 members that are carried through unchanged (`dimension_names`, `attributes`).
    extra: Vec<(String, Json)>,
    raw: String,
}

/// Largest decoded chunk this reader accepts (1 TiB): a bound on what a metadata file can
/// make us allocate for a single chunk.
const MAX_CHUNK_BYTES: u64 = 1 << 40;

impl ArrayMetadata {
    /// Parses metadata text. `file` names its origin in error messages.
    pub fn parse(text: &str, format: ZarrFormat, file: &str) -> Result<ArrayMetadata> {
        let value: Value = serde_json::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| invalid(file, "not a JSON object"))?;
        let mut meta = match format {
            ZarrFormat::V2 => parse_v2(obj, file)?,
            ZarrFormat::V3 => parse_v3(obj, file)?,
        };
        meta.raw = text.to_owned();
        meta.validate(file)?;
        Ok(meta)
    }

    /// Metadata TensorStore writes for an Orbax zarr v2 array: C order, `.` separator,
    /// `fill_value: null`, zstd at `zstd_level` (Orbax: 1) or no compressor.
    pub fn new_v2(
        dtype: DType,
        shape: &[u64],
        chunk_shape: &[u64],
        zstd_level: Option<i32>,
    ) -> Result<ArrayMetadata> {
        let mut meta = ArrayMetadata {
            format: ZarrFormat::V2,
            shape: shape.to_vec(),
            chunk_shape: chunk_shape.to_vec(),
            dtype,
            fill_value: FillValue {
                json: Json::Null,
                host: vec![0; dtype.host_size()],
            },
            key_encoding: ChunkKeyEncoding::V2 { separator: '.' },
            layout: Layout::Plain(ChunkCodecs {
                endian: Endian::Little,
                bytes_configured: false,
                zstd: zstd_level.map(|level| ZstdConfig {
                    level,
                    checksum: false,
                }),
                crc32c: false,
            }),
            extra: Vec::new(),
            raw: String::new(),
        };
        meta.validate("new zarr v2 metadata")?;
        meta.raw = meta.encode();
        Ok(meta)
    }

    /// Metadata TensorStore writes for an Orbax zarr v3 array: a regular grid whose every
    /// chunk is a `sharding_indexed` shard holding exactly one inner chunk, inner codecs
    /// `bytes` (+ zstd at `zstd_level`, Orbax: 3, checksum off), index `bytes` + `crc32c` at
    /// the end, fill value zero.
    pub fn new_v3(
        dtype: DType,
        shape: &[u64],
        chunk_shape: &[u64],
        zstd_level: Option<i32>,
    ) -> Result<ArrayMetadata> {
        let multi_byte = dtype.storage_size() > 1;
        let zero = vec![0u8; dtype.host_size()];
        let mut meta = ArrayMetadata {
            format: ZarrFormat::V3,
            shape: shape.to_vec(),
            chunk_shape: chunk_shape.to_vec(),
            dtype,
            fill_value: FillValue {
                json: fill_json_from_host(dtype, &zero),
                host: zero,
            },
            key_encoding: ChunkKeyEncoding::Default { separator: '/' },
            layout: Layout::Sharded(Sharding {
                chunk_shape: chunk_shape.to_vec(),
                codecs: ChunkCodecs {
                    endian: Endian::Little,
                    bytes_configured: multi_byte,
                    zstd: zstd_level.map(|level| ZstdConfig {
                        level,
                        checksum: false,
                    }),
                    crc32c: false,
                },
                index_endian: Endian::Little,
                index_bytes_configured: true,
                index_crc32c: true,
                index_location: IndexLocation::End,
            }),
            extra: Vec::new(),
            raw: String::new(),
        };
        meta.validate("new zarr v3 metadata")?;
        meta.raw = meta.encode();
        Ok(meta)
    }

    /// zarr version.
    pub fn format(&self) -> ZarrFormat {
        self.format
    }

    /// Array shape.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Chunk shape of the grid: zarr v2 `chunks`, zarr v3 `chunk_grid` chunk shape (for a
    /// sharded array the shard shape).
    pub fn chunk_shape(&self) -> &[u64] {
        &self.chunk_shape
    }

    /// Shape of the unit that is compressed on its own: the inner chunk shape of a sharded
    /// array, otherwise [`ArrayMetadata::chunk_shape`].
    pub fn inner_chunk_shape(&self) -> &[u64] {
        match &self.layout {
            Layout::Sharded(s) => &s.chunk_shape,
            Layout::Plain(_) => &self.chunk_shape,
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// On-disk byte order of elements.
    pub fn endian(&self) -> Endian {
        self.codecs().endian
    }

    /// The fill value.
    pub fn fill_value(&self) -> &FillValue {
        &self.fill_value
    }

    /// Chunk compression (`None` when uncompressed).
    pub fn compression(&self) -> Option<Compression> {
        self.codecs().zstd.map(|z| Compression {
            algorithm: "zstd",
            level: z.level,
        })
    }

    /// Codecs of each independently stored chunk (the inner chunks of a sharded array).
    pub fn codecs(&self) -> &ChunkCodecs {
        match &self.layout {
            Layout::Plain(c) => c,
            Layout::Sharded(s) => &s.codecs,
        }
    }

    /// The sharding codec, for zarr v3 `sharding_indexed` arrays.
    pub fn sharding(&self) -> Option<&Sharding> {
        match &self.layout {
            Layout::Sharded(s) => Some(s),
            Layout::Plain(_) => None,
        }
    }

    /// How chunk keys are formed.
    pub fn chunk_key_encoding(&self) -> ChunkKeyEncoding {
        self.key_encoding
    }

    /// The exact metadata text this was parsed from (or, for constructed metadata, its
    /// encoding).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Number of elements (1 for a 0-d array).
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Number of chunks along each dimension (`ceil(shape / chunk_shape)`).
    pub fn chunk_grid_shape(&self) -> Vec<u64> {
        self.shape
            .iter()
            .zip(&self.chunk_shape)
            .map(|(&s, &c)| s.div_ceil(c))
            .collect()
    }

    /// Bytes of one full grid chunk (a whole shard for sharded arrays) in host form.
    pub fn chunk_host_bytes(&self) -> usize {
        // Bounded by MAX_CHUNK_BYTES in `validate`.
        (self.chunk_shape.iter().product::<u64>() as usize) * self.dtype.host_size()
    }

    /// Encodes the metadata exactly as TensorStore writes it: compact JSON, keys sorted.
    pub fn encode(&self) -> String {
        match self.format {
            ZarrFormat::V2 => self.encode_v2(),
            ZarrFormat::V3 => self.encode_v3(),
        }
    }

    fn encode_v2(&self) -> String {
        let codecs = self.codecs();
        let compressor = match codecs.zstd {
            None => Json::Null,
            Some(z) if z.checksum => Json::object([
                ("checksum", Json::Bool(true)),
                ("id", Json::Str("zstd".into())),
                ("level", Json::Int(z.level.into())),
            ]),
            Some(z) => Json::object([
                ("id", Json::Str("zstd".into())),
                ("level", Json::Int(z.level.into())),
            ]),
        };
        let separator = match self.key_encoding {
            ChunkKeyEncoding::V2 { separator } | ChunkKeyEncoding::Default { separator } => {
                separator
            }
        };
        let dtype = match (codecs.endian, self.dtype.zarr_v2()) {
            (Endian::Big, s) if s.starts_with('<') => format!(">{}", &s[1..]),
            (_, s) => s.to_owned(),
        };
        Json::object([
            ("chunks", Json::uints(&self.chunk_shape)),
            ("compressor", compressor),
            ("dimension_separator", Json::Str(separator.to_string())),
            ("dtype", Json::Str(dtype)),
            ("fill_value", self.fill_value.json.clone()),
            ("filters", Json::Null),
            ("order", Json::Str("C".into())),
            ("shape", Json::uints(&self.shape)),
            ("zarr_format", Json::UInt(2)),
        ])
        .dump()
    }

    fn encode_v3(&self) -> String {
        let codecs = match &self.layout {
            Layout::Plain(c) => codec_chain_json(c),
            Layout::Sharded(s) => {
                let mut index_codecs =
                    vec![bytes_codec_json(s.index_endian, s.index_bytes_configured)];
                if s.index_crc32c {
                    index_codecs.push(Json::object([("name", Json::Str("crc32c".into()))]));
                }
                let mut config = Json::object([
                    ("chunk_shape", Json::uints(&s.chunk_shape)),
                    ("codecs", Json::Array(codec_chain_json(&s.codecs))),
                    ("index_codecs", Json::Array(index_codecs)),
                ]);
                if s.index_location == IndexLocation::Start {
                    if let Json::Object(map) = &mut config {
                        map.insert("index_location".into(), Json::Str("start".into()));
                    }
                }
                vec![Json::object([
                    ("configuration", config),
                    ("name", Json::Str("sharding_indexed".into())),
                ])]
            }
        };
        let key_encoding = match self.key_encoding {
            ChunkKeyEncoding::Default { separator: '/' } => {
                Json::object([("name", Json::Str("default".into()))])
            }
            ChunkKeyEncoding::V2 { separator: '.' } => {
                Json::object([("name", Json::Str("v2".into()))])
            }
            ChunkKeyEncoding::Default { separator } | ChunkKeyEncoding::V2 { separator } => {
                let name = match self.key_encoding {
                    ChunkKeyEncoding::Default { .. } => "default",
                    ChunkKeyEncoding::V2 { .. } => "v2",
                };
                Json::object([
                    (
                        "configuration",
                        Json::object([("separator", Json::Str(separator.to_string()))]),
                    ),
                    ("name", Json::Str(name.into())),
                ])
            }
        };
        let mut doc = Json::object([
            (
                "chunk_grid",
                Json::object([
                    (
                        "configuration",
                        Json::object([("chunk_shape", Json::uints(&self.chunk_shape))]),
                    ),
                    ("name", Json::Str("regular".into())),
                ]),
            ),
            ("chunk_key_encoding", key_encoding),
            ("codecs", Json::Array(codecs)),
            ("data_type", Json::Str(self.dtype.zarr_v3().into())),
            ("fill_value", self.fill_value.json.clone()),
            ("node_type", Json::Str("array".into())),
            ("shape", Json::uints(&self.shape)),
            ("zarr_format", Json::UInt(3)),
        ]);
        if let Json::Object(map) = &mut doc {
            for (k, v) in &self.extra {
                map.insert(k.clone(), v.clone());
            }
        }
        doc.dump()
    }

    fn validate(&self, file: &str) -> Result<()> {
        let rank = self.shape.len();
        if self.chunk_shape.len() != rank {
            return Err(invalid(
                file,
                format!(
                    "chunk shape {:?} does not match the rank of shape {:?}",
                    self.chunk_shape, self.shape
                ),
            ));
        }
        if self.chunk_shape.contains(&0) {
            return Err(invalid(
                file,
                format!("chunk shape {:?} has a zero dimension", self.chunk_shape),
            ));
        }
        if checked_bytes(&self.chunk_shape, self.dtype).is_none_or(|b| b > MAX_CHUNK_BYTES) {
            return Err(invalid(
                file,
                format!(
                    "chunk shape {:?} of {} is too large",
                    self.chunk_shape, self.dtype
                ),
            ));
        }
        if checked_bytes(&self.shape, self.dtype).is_none() {
            return Err(invalid(
                file,
                format!("shape {:?} overflows 64-bit sizes", self.shape),
            ));
        }
        if let Layout::Sharded(s) = &self.layout {
            if s.chunk_shape.len() != rank
                || s.chunk_shape
                    .iter()
                    .zip(&self.chunk_shape)
                    .any(|(&inner, &outer)| inner == 0 || outer % inner != 0)
            {
                return Err(invalid(
                    file,
                    format!(
                        "sharding chunk shape {:?} does not divide the shard shape {:?}",
                        s.chunk_shape, self.chunk_shape
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn checked_bytes(shape: &[u64], dtype: DType) -> Option<u64> {
    shape
        .iter()
        .try_fold(dtype.storage_size() as u64, |acc, &d| acc.checked_mul(d))
        .filter(|&b| usize::try_from(b).is_ok())
}

fn invalid(file: &str, reason: impl Into<String>) -> Error {
    Error::InvalidMetadata {
        key: file.to_owned(),
        reason: reason.into(),
    }
}

fn unsupported(file: &str, codec: impl Into<String>) -> Error {
    Error::UnsupportedCodec {
        codec: codec.into(),
        file: file.to_owned(),
    }
}

type Object = serde_json::Map<String, Value>;

fn member<'a>(obj: &'a Object, name: &str, file: &str) -> Result<&'a Value> {
    obj.get(name)
        .ok_or_else(|| invalid(file, format!("missing member {name:?}")))
}

fn shape_member(obj: &Object, name: &str, file: &str) -> Result<Vec<u64>> {
    shape_value(member(obj, name, file)?, name, file)
}

fn shape_value(v: &Value, name: &str, file: &str) -> Result<Vec<u64>> {
    v.as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
        .ok_or_else(|| {
            invalid(
                file,
                format!("{name:?} must be an array of non-negative integers, got {v}"),
            )
        })
}

fn parse_v2(obj: &Object, file: &str) -> Result<ArrayMetadata> {
    match member(obj, "zarr_format", file)?.as_u64() {
        Some(2) => {}
        _ => return Err(invalid(file, "\"zarr_format\" is not 2")),
    }
    let shape = shape_member(obj, "shape", file)?;
    let chunk_shape = shape_member(obj, "chunks", file)?;
    let dtype_value = member(obj, "dtype", file)?;
    let dtype_str = dtype_value
        .as_str()
        .ok_or_else(|| Error::UnsupportedDtype {
            dtype: dtype_value.to_string(),
            file: file.to_owned(),
        })?;
    let (dtype, endian) =
        DType::from_zarr_v2(dtype_str).ok_or_else(|| Error::UnsupportedDtype {
            dtype: dtype_str.to_owned(),
            file: file.to_owned(),
        })?;
    match obj.get("order").and_then(Value::as_str) {
        Some("C") => {}
        Some("F") => {
            return Err(unsupported(
                file,
                "order \"F\" (Fortran-ordered chunks); only \"C\" is supported",
            ))
        }
        _ => return Err(invalid(file, "\"order\" must be \"C\" or \"F\"")),
    }
    match obj.get("filters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(other) => {
            let id = other
                .get(0)
                .and_then(|f| f.get("id"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            return Err(unsupported(file, format!("filter {id:?}")));
        }
    }
    let zstd = match member(obj, "compressor", file)? {
        Value::Null => None,
        Value::Object(c) => match c.get("id").and_then(Value::as_str) {
            Some("zstd") => {
                let level = match c.get("level") {
                    None => 0,
                    Some(l) => l
                        .as_i64()
                        .and_then(|l| i32::try_from(l).ok())
                        .ok_or_else(|| invalid(file, format!("bad zstd level {l}")))?,
                };
                let checksum = c.get("checksum").and_then(Value::as_bool).unwrap_or(false);
                Some(ZstdConfig { level, checksum })
            }
            Some(id) => return Err(unsupported(file, format!("compressor {id:?}"))),
            None => return Err(invalid(file, "compressor without \"id\"")),
        },
        other => return Err(invalid(file, format!("bad compressor {other}"))),
    };
    let separator = match obj.get("dimension_separator") {
        None | Some(Value::Null) => '.',
        Some(Value::String(s)) if s == "." => '.',
        Some(Value::String(s)) if s == "/" => '/',
        Some(other) => {
            return Err(invalid(
                file,
                format!("\"dimension_separator\" must be \".\" or \"/\", got {other}"),
            ))
        }
    };
    let fill_json = Json::from_serde(obj.get("fill_value").unwrap_or(&Value::Null));
    let fill_value = parse_fill(dtype, fill_json, file)?;
    Ok(ArrayMetadata {
        format: ZarrFormat::V2,
        shape,
        chunk_shape,
        dtype,
        fill_value,
        key_encoding: ChunkKeyEncoding::V2 { separator },
        layout: Layout::Plain(ChunkCodecs {
            endian,
            bytes_configured: false,
            zstd,
            crc32c: false,
        }),
        extra: Vec::new(),
        raw: String::new(),
    })
}

fn parse_v3(obj: &Object, file: &str) -> Result<ArrayMetadata> {
    match member(obj, "zarr_format", file)?.as_u64() {
        Some(3) => {}
        _ => return Err(invalid(file, "\"zarr_format\" is not 3")),
    }
    match obj.get("node_type").and_then(Value::as_str) {
        Some("array") => {}
        _ => return Err(invalid(file, "\"node_type\" is not \"array\"")),
    }
    let shape = shape_member(obj, "shape", file)?;
    let data_type = member(obj, "data_type", file)?;
    let dtype = data_type
        .as_str()
        .and_then(DType::from_zarr_v3)
        .ok_or_else(|| Error::UnsupportedDtype {
            dtype: data_type
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| data_type.to_string()),
            file: file.to_owned(),
        })?;
    let (grid_name, grid_config) = named(member(obj, "chunk_grid", file)?, "chunk_grid", file)?;
    if grid_name != "regular" {
        return Err(unsupported(file, format!("chunk_grid {grid_name:?}")));
    }
    let chunk_shape = shape_value(
        config_member(grid_config, "chunk_shape", file)?,
        "chunk_shape",
        file,
    )?;
    let key_encoding = match obj.get("chunk_key_encoding") {
        None => ChunkKeyEncoding::Default { separator: '/' },
        Some(v) => {
            let (name, config) = named(v, "chunk_key_encoding", file)?;
            let separator = match config.and_then(|c| c.get("separator")) {
                None => None,
                Some(Value::String(s)) if s == "/" || s == "." => s.chars().next(),
                Some(other) => {
                    return Err(invalid(file, format!("bad chunk key separator {other}")))
                }
            };
            match name {
                "default" => ChunkKeyEncoding::Default {
                    separator: separator.unwrap_or('/'),
                },
                "v2" => ChunkKeyEncoding::V2 {
                    separator: separator.unwrap_or('.'),
                },
                other => return Err(unsupported(file, format!("chunk_key_encoding {other:?}"))),
            }
        }
    };
    if let Some(t) = obj.get("storage_transformers") {
        if t.as_array().is_none_or(|a| !a.is_empty()) {
            return Err(unsupported(file, "storage_transformers"));
        }
    }
    let codecs = member(obj, "codecs", file)?
        .as_array()
        .ok_or_else(|| invalid(file, "\"codecs\" is not an array"))?;
    let layout = parse_codecs(codecs, dtype, file, true)?;
    let fill_value = parse_fill(
        dtype,
        Json::from_serde(member(obj, "fill_value", file)?),
        file,
    )?;
    let mut extra = Vec::new();
    for name in ["attributes", "dimension_names"] {
        if let Some(v) = obj.get(name) {
            extra.push((name.to_owned(), Json::from_serde(v)));
        }
    }
    Ok(ArrayMetadata {
        format: ZarrFormat::V3,
        shape,
        chunk_shape,
        dtype,
        fill_value,
        key_encoding,
        layout,
        extra,
        raw: String::new(),
    })
}

/// Splits a zarr v3 `{"name": ..., "configuration": {...}}` object (or a bare name string).
fn named<'a>(v: &'a Value, what: &str, file: &str) -> Result<(&'a str, Option<&'a Object>)> {
    if let Some(name) = v.as_str() {
        return Ok((name, None));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(file, format!("{what} must be an object, got {v}")))?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(file, format!("{what} has no \"name\"")))?;
    let config = match obj.get("configuration") {
        None => None,
        Some(Value::Object(c)) => Some(c),
        Some(other) => {
            return Err(invalid(
                file,
                format!("{what} {name:?} configuration must be an object, got {other}"),
            ))
        }
    };
    Ok((name, config))
}

fn config_member<'a>(config: Option<&'a Object>, name: &str, file: &str) -> Result<&'a Value> {
    config
        .and_then(|c| c.get(name))
        .ok_or_else(|| invalid(file, format!("missing configuration member {name:?}")))
}

fn parse_endian(config: Option<&Object>, file: &str) -> Result<(Endian, bool)> {
    match config.and_then(|c| c.get("endian")) {
        None => Ok((Endian::Little, false)),
        Some(Value::String(s)) if s == "little" => Ok((Endian::Little, true)),
        Some(Value::String(s)) if s == "big" => Ok((Endian::Big, true)),
        Some(other) => Err(invalid(file, format!("bad bytes endian {other}"))),
    }
}

/// Parses a v3 codec list: `bytes` [`zstd`] [`crc32c`], or (at the top level) a single
/// `sharding_indexed` whose inner chain is of the first form.
fn parse_codecs(list: &[Value], dtype: DType, file: &str, allow_sharding: bool) -> Result<Layout> {
    let mut iter = list.iter();
    let first = iter
        .next()
        .ok_or_else(|| invalid(file, "empty codec list"))?;
    let (name, config) = named(first, "codec", file)?;
    let endian = match name {
        "bytes" => parse_endian(config, file)?,
        "sharding_indexed" if allow_sharding => {
            if let Some(extra) = iter.next() {
                let (name, _) = named(extra, "codec", file)?;
                return Err(unsupported(
                    file,
                    format!("codec {name:?} after sharding_indexed"),
                ));
            }
            return parse_sharding(config, dtype, file).map(Layout::Sharded);
        }
        "sharding_indexed" => return Err(unsupported(file, "nested sharding_indexed")),
        other => return Err(unsupported(file, format!("codec {other:?}"))),
    };
    let mut codecs = ChunkCodecs {
        endian: endian.0,
        bytes_configured: endian.1,
        zstd: None,
        crc32c: false,
    };
    for codec in iter {
        let (name, config) = named(codec, "codec", file)?;
        match name {
            "zstd" if codecs.zstd.is_none() && !codecs.crc32c => {
                let level = match config.and_then(|c| c.get("level")) {
                    None => 0,
                    Some(l) => l
                        .as_i64()
                        .and_then(|l| i32::try_from(l).ok())
                        .ok_or_else(|| invalid(file, format!("bad zstd level {l}")))?,
                };
                let checksum = config
                    .and_then(|c| c.get("checksum"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                codecs.zstd = Some(ZstdConfig { level, checksum });
            }
            "crc32c" if !codecs.crc32c => codecs.crc32c = true,
            other => {
                return Err(unsupported(
                    file,
                    format!("codec {other:?} (in this position)"),
                ))
            }
        }
    }
    Ok(Layout::Plain(codecs))
}

fn parse_sharding(config: Option<&Object>, dtype: DType, file: &str) -> Result<Sharding> {
    let chunk_shape = shape_value(
        config_member(config, "chunk_shape", file)?,
        "chunk_shape",
        file,
    )?;
    let inner = config_member(config, "codecs", file)?
        .as_array()
        .ok_or_else(|| invalid(file, "sharding \"codecs\" is not an array"))?;
    let Layout::Plain(codecs) = parse_codecs(inner, dtype, file, false)? else {
        unreachable!("inner chains cannot be sharded");
    };
    let index_codecs = config_member(config, "index_codecs", file)?
        .as_array()
        .ok_or_else(|| invalid(file, "\"index_codecs\" is not an array"))?;
    let Layout::Plain(index) = parse_codecs(index_codecs, dtype, file, false)? else {
        unreachable!("index chains cannot be sharded");
    };
    if index.zstd.is_some() {
        return Err(unsupported(file, "compressed shard index"));
    }
    let index_location = match config.and_then(|c| c.get("index_location")) {
        None => IndexLocation::End,
        Some(Value::String(s)) if s == "end" => IndexLocation::End,
        Some(Value::String(s)) if s == "start" => IndexLocation::Start,
        Some(other) => return Err(invalid(file, format!("bad index_location {other}"))),
    };
    Ok(Sharding {
        chunk_shape,
        codecs,
        index_endian: index.endian,
        index_bytes_configured: index.bytes_configured,
        index_crc32c: index.crc32c,
        index_location,
    })
}

fn bytes_codec_json(endian: Endian, configured: bool) -> Json {
    if configured {
        let e = match endian {
            Endian::Little => "little",
            Endian::Big => "big",
        };
        Json::object([
            (
                "configuration",
                Json::object([("endian", Json::Str(e.into()))]),
            ),
            ("name", Json::Str("bytes".into())),
        ])
    } else {
        Json::object([("name", Json::Str("bytes".into()))])
    }
}

fn codec_chain_json(c: &ChunkCodecs) -> Vec<Json> {
    let mut out = vec![bytes_codec_json(c.endian, c.bytes_configured)];
    if let Some(z) = c.zstd {
        out.push(Json::object([
            (
                "configuration",
                Json::object([
                    ("checksum", Json::Bool(z.checksum)),
                    ("level", Json::Int(z.level.into())),
                ]),
            ),
            ("name", Json::Str("zstd".into())),
        ]));
    }
    if c.crc32c {
        out.push(Json::object([("name", Json::Str("crc32c".into()))]));
    }
    out
}

/// Parses a fill value for `dtype` into its host bytes.
fn parse_fill(dtype: DType, json: Json, file: &str) -> Result<FillValue> {
    let bad = || {
        invalid(
            file,
            format!("fill_value {} is not a valid {dtype}", json.dump()),
        )
    };
    let host = match (&json, dtype.kind()) {
        (Json::Null, _) => vec![0; dtype.host_size()],
        (Json::Bool(b), DTypeKind::Bool) => vec![u8::from(*b)],
        (Json::Int(_) | Json::UInt(_), DTypeKind::Bool) => match int_of(&json) {
            Some(0) => vec![0],
            Some(1) => vec![1],
            _ => return Err(bad()),
        },
        (_, DTypeKind::SignedInt | DTypeKind::UnsignedInt) => {
            let v = int_of(&json).ok_or_else(bad)?;
            int_host_bytes(dtype, v).ok_or_else(bad)?
        }
        (_, DTypeKind::Float) => float_host_bytes(dtype, &json).ok_or_else(bad)?,
        (Json::Array(parts), DTypeKind::Complex) if parts.len() == 2 => {
            let re = float_component(dtype, &parts[0]).ok_or_else(bad)?;
            let im = float_component(dtype, &parts[1]).ok_or_else(bad)?;
            [re, im].concat()
        }
        _ => return Err(bad()),
    };
    Ok(FillValue { json, host })
}

fn int_of(json: &Json) -> Option<i128> {
    match *json {
        Json::Int(i) => Some(i.into()),
        Json::UInt(u) => Some(u.into()),
        Json::Float(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => Some(f as i128),
        _ => None,
    }
}

fn int_host_bytes(dtype: DType, v: i128) -> Option<Vec<u8>> {
    let (lo, hi): (i128, i128) = match dtype {
        DType::Int2 => (-2, 1),
        DType::Int4 => (-8, 7),
        DType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DType::UInt8 => (0, u8::MAX.into()),
        DType::UInt16 => (0, u16::MAX.into()),
        DType::UInt32 => (0, u32::MAX.into()),
        DType::UInt64 => (0, u64::MAX.into()),
        _ => return None,
    };
    if !(lo..=hi).contains(&v) {
        return None;
    }
    // Two's complement little-endian; int4/int2 are one sign-extended byte in host form.
    Some(v.to_le_bytes()[..dtype.host_size()].to_vec())
}

/// A real float fill value as f64, or raw bits for the `"0x…"` form.
enum FloatFill {
    Value(f64),
    Bits(u64),
}

fn float_fill(json: &Json) -> Option<FloatFill> {
    Some(FloatFill::Value(match json {
        Json::Int(i) => *i as f64,
        Json::UInt(u) => *u as f64,
        Json::Float(f) => *f,
        Json::Str(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            hex => {
                let digits = hex.strip_prefix("0x")?;
                return u64::from_str_radix(digits, 16).ok().map(FloatFill::Bits);
            }
        },
        _ => return None,
    }))
}

fn float_host_bytes(dtype: DType, json: &Json) -> Option<Vec<u8>> {
    let size = dtype.host_size();
    match float_fill(json)? {
        FloatFill::Value(v) => {
            let mut out = vec![0u8; size];
            cast(DType::Float64, &v.to_le_bytes(), dtype, &mut out).ok()?;
            Some(out)
        }
        FloatFill::Bits(bits) => {
            if size < 8 && bits >> (size * 8) != 0 {
                return None;
            }
            let mut out = bits.to_le_bytes()[..size].to_vec();
            crate::dtype::disk_to_host_in_place(dtype, Endian::Little, &mut out);
            Some(out)
        }
    }
}

fn float_component(dtype: DType, json: &Json) -> Option<Vec<u8>> {
    let component = match dtype {
        DType::Complex64 => DType::Float32,
        _ => DType::Float64,
    };
    float_host_bytes(component, json)
}

/// The JSON TensorStore writes for a zarr v3 fill value held as host bytes.
fn fill_json_from_host(dtype: DType, host: &[u8]) -> Json {
    match dtype.kind() {
        DTypeKind::Bool => Json::Bool(host[0] != 0),
        DTypeKind::SignedInt | DTypeKind::UnsignedInt => {
            let mut wide = [0u8; 8];
            cast(dtype, host, DType::Int64, &mut wide).expect("one element");
            let v = i64::from_le_bytes(wide);
            // serde_json parses non-negative integers as u64; mirror that so parse and
            // construction agree.
            if dtype == DType::UInt64 {
                Json::UInt(u64::from_le_bytes(host.try_into().expect("8 bytes")))
            } else if v >= 0 {
                Json::UInt(v as u64)
            } else {
                Json::Int(v)
            }
        }
        DTypeKind::Float => float_json(dtype, host),
        DTypeKind::Complex => {
            let half = host.len() / 2;
            let component = if dtype == DType::Complex64 {
                DType::Float32
            } else {
                DType::Float64
            };
            Json::Array(vec![
                float_json(component, &host[..half]),
                float_json(component, &host[half..]),
            ])
        }
    }
}

fn float_json(dtype: DType, host: &[u8]) -> Json {
    let mut wide = [0u8; 8];
    cast(dtype, host, DType::Float64, &mut wide).expect("one element");
    let v = f64::from_le_bytes(wide);
    if v.is_nan() {
        // The canonical NaN is spelled "NaN"; other payloads by their raw bits.
        let mut canonical = vec![0u8; host.len()];
        cast(
            DType::Float64,
            &f64::NAN.to_le_bytes(),
            dtype,
            &mut canonical,
        )
        .expect("one");
        if canonical == host {
            return Json::Str("NaN".into());
        }
        let mut bits = [0u8; 8];
        bits[..host.len()].copy_from_slice(host);
        return Json::Str(format!(
            "0x{:0width$x}",
            u64::from_le_bytes(bits),
            width = host.len() * 2
        ));
    }
    if v.is_infinite() {
        return Json::Str(if v > 0.0 { "Infinity" } else { "-Infinity" }.into());
    }
    Json::Float(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_F32: &str = r#"{"chunks":[3],"compressor":{"id":"zstd","level":1},"dimension_separator":".","dtype":"<f4","fill_value":null,"filters":null,"order":"C","shape":[3],"zarr_format":2}"#;
    const V3_F32: &str = r#"{"chunk_grid":{"configuration":{"chunk_shape":[16,16]},"name":"regular"},"chunk_key_encoding":{"name":"default"},"codecs":[{"configuration":{"chunk_shape":[16,16],"codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"configuration":{"checksum":false,"level":3},"name":"zstd"}],"index_codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"name":"crc32c"}]},"name":"sharding_indexed"}],"data_type":"float32","fill_value":0.0,"node_type":"array","shape":[64,48],"zarr_format":3}"#;

    #[test]
    fn parses_and_reencodes_the_spec_examples() {
        let m = ArrayMetadata::parse(V2_F32, ZarrFormat::V2, "t").unwrap();
        assert_eq!(m.shape(), [3]);
        assert_eq!(m.chunk_shape(), [3]);
        assert_eq!(m.dtype(), DType::Float32);
        assert_eq!(
            m.compression(),
            Some(Compression {
                algorithm: "zstd",
                level: 1
            })
        );
        assert!(m.fill_value().is_null());
        assert_eq!(m.fill_value().host_bytes(), [0, 0, 0, 0]);
        assert_eq!(m.raw(), V2_F32);
        assert_eq!(m.encode(), V2_F32);

        let m = ArrayMetadata::parse(V3_F32, ZarrFormat::V3, "t").unwrap();
        assert_eq!(m.format(), ZarrFormat::V3);
        assert_eq!(m.chunk_shape(), [16, 16]);
        assert_eq!(m.inner_chunk_shape(), [16, 16]);
        assert_eq!(m.chunk_grid_shape(), [4, 3]);
        assert_eq!(m.compression().unwrap().level, 3);
        let s = m.sharding().unwrap();
        assert!(s.index_crc32c);
        assert_eq!(s.index_location, IndexLocation::End);
        assert_eq!(m.fill_value().json_text(), "0.0");
        assert_eq!(m.encode(), V3_F32);
    }

    #[test]
    fn constructors_match_tensorstore_bytes() {
        let m = ArrayMetadata::new_v2(DType::Float32, &[3], &[3], Some(1)).unwrap();
        assert_eq!(m.raw(), V2_F32);
        let m = ArrayMetadata::new_v3(DType::Float32, &[64, 48], &[16, 16], Some(3)).unwrap();
        assert_eq!(m.raw(), V3_F32);
        // One-byte types get a bare "bytes" codec; fill values per kind.
        let m = ArrayMetadata::new_v3(DType::Int4, &[9], &[9], Some(3)).unwrap();
        assert!(m
            .raw()
            .contains(r#""codecs":[{"name":"bytes"},{"configuration""#));
        assert!(m.raw().contains(r#""fill_value":0,"#));
        let m = ArrayMetadata::new_v3(DType::Bool, &[5], &[5], None).unwrap();
        assert!(m
            .raw()
            .contains(r#""codecs":[{"name":"bytes"}],"index_codecs""#));
        assert!(m.raw().contains(r#""fill_value":false,"#));
        let m = ArrayMetadata::new_v3(DType::Complex64, &[3], &[3], Some(3)).unwrap();
        assert!(m.raw().contains(r#""fill_value":[0.0,0.0],"#));
        let m = ArrayMetadata::new_v3(DType::BFloat16, &[3], &[3], Some(3)).unwrap();
        assert!(m.raw().contains(r#""fill_value":0.0,"#));
        let m = ArrayMetadata::new_v2(DType::Int64, &[], &[], None).unwrap();
        assert_eq!(
            m.raw(),
            r#"{"chunks":[],"compressor":null,"dimension_separator":".","dtype":"<i8","fill_value":null,"filters":null,"order":"C","shape":[],"zarr_format":2}"#
        );
        // Every constructed document parses back to the same metadata.
        for d in DType::ALL {
            for m in [
                ArrayMetadata::new_v2(d, &[4, 5], &[2, 5], Some(1)).unwrap(),
                ArrayMetadata::new_v3(d, &[4, 5], &[2, 5], Some(3)).unwrap(),
            ] {
                let back = ArrayMetadata::parse(m.raw(), m.format(), "t").unwrap();
                assert_eq!(back, m, "{d}");
            }
        }
    }

    #[test]
    fn big_endian_and_separators_round_trip() {
        let text = V2_F32.replace("<f4", ">f4").replace(
            r#""dimension_separator":".""#,
            r#""dimension_separator":"/""#,
        );
        let m = ArrayMetadata::parse(&text, ZarrFormat::V2, "t").unwrap();
        assert_eq!(m.endian(), Endian::Big);
        assert_eq!(
            m.chunk_key_encoding(),
            ChunkKeyEncoding::V2 { separator: '/' }
        );
        assert_eq!(m.encode(), text);
        let text = V3_F32.replace(
            r#"{"name":"default"}"#,
            r#"{"configuration":{"separator":"."},"name":"default"}"#,
        );
        let m = ArrayMetadata::parse(&text, ZarrFormat::V3, "t").unwrap();
        assert_eq!(m.chunk_key_encoding().suffix(&[1, 2]), "c.1.2");
        assert_eq!(m.encode(), text);
    }

    #[test]
    fn chunk_key_suffixes() {
        let d = ChunkKeyEncoding::Default { separator: '/' };
        assert_eq!(d.suffix(&[]), "c");
        assert_eq!(d.suffix(&[0, 12]), "c/0/12");
        let v2 = ChunkKeyEncoding::V2 { separator: '.' };
        assert_eq!(v2.suffix(&[]), "0");
        assert_eq!(v2.suffix(&[3]), "3");
        assert_eq!(v2.suffix(&[1, 0, 2]), "1.0.2");
    }

    #[test]
    fn fill_values() {
        let parse = |fill: &str, dtype: &str| {
            let text = V3_F32
                .replace(r#""fill_value":0.0"#, &format!(r#""fill_value":{fill}"#))
                .replace(
                    r#""data_type":"float32""#,
                    &format!(r#""data_type":"{dtype}""#),
                );
            ArrayMetadata::parse(&text, ZarrFormat::V3, "t")
        };
        let host = |fill: &str, dtype: &str| parse(fill, dtype).unwrap().fill_value().host.clone();
        assert_eq!(host("\"NaN\"", "float32"), 0x7fc0_0000u32.to_le_bytes());
        assert_eq!(host("\"NaN\"", "bfloat16"), 0x7fc0u16.to_le_bytes());
        assert_eq!(host("\"NaN\"", "float8_e4m3fn"), [0x7f]);
        assert_eq!(host("\"NaN\"", "float8_e4m3fnuz"), [0x80]);
        assert_eq!(host("\"-Infinity\"", "float16"), 0xfc00u16.to_le_bytes());
        assert_eq!(
            host("\"0x7fc00001\"", "float32"),
            0x7fc0_0001u32.to_le_bytes()
        );
        assert_eq!(host("1.5", "float64"), 1.5f64.to_le_bytes());
        assert_eq!(host("-1", "int4"), [0xff]);
        assert_eq!(host("255", "uint8"), [0xff]);
        assert_eq!(host("true", "bool"), [1]);
        assert_eq!(
            host("[1.0,\"NaN\"]", "complex64"),
            [1f32.to_le_bytes(), 0x7fc0_0000u32.to_le_bytes()].concat()
        );
        for (fill, dtype) in [
            ("8", "int4"),
            ("-1", "uint8"),
            ("1.5", "int32"),
            ("\"x\"", "float32"),
            ("[0.0]", "complex64"),
            ("2", "bool"),
            ("\"0x1ff\"", "float8_e5m2"),
        ] {
            let e = parse(fill, dtype).unwrap_err();
            assert_eq!(e.code(), "ERR_ZARR_METADATA", "{fill} {dtype}");
        }
        // Round trip of non-zero fill values through the encoder.
        for (fill, dtype) in [
            ("\"NaN\"", "float32"),
            ("\"Infinity\"", "float64"),
            ("1e+30", "float64"),
            ("-3", "int16"),
            ("18446744073709551615", "uint64"),
            ("[0.5,-1.0]", "complex128"),
        ] {
            let m = parse(fill, dtype).unwrap();
            assert_eq!(m.encode(), m.raw(), "{fill} {dtype}");
            let again = fill_json_from_host(m.dtype(), &m.fill_value().host);
            assert_eq!(again.dump(), fill, "{dtype}");
        }
        assert_eq!(
            fill_json_from_host(DType::Float32, &0x7fc0_0001u32.to_le_bytes()).dump(),
            "\"0x7fc00001\""
        );
    }

    #[test]
    fn rejects_what_is_outside_the_subset() {
        let v2 = |from: &str, to: &str| {
            ArrayMetadata::parse(&V2_F32.replace(from, to), ZarrFormat::V2, "/c/.zarray")
                .unwrap_err()
        };
        let e = v2("<f4", "<U8");
        assert!(
            matches!(&e, Error::UnsupportedDtype { dtype, file } if dtype == "<U8" && file == "/c/.zarray")
        );
        assert_eq!(e.code(), "ERR_ZARR_UNSUPPORTED_DTYPE");
        let e = v2(r#""id":"zstd""#, r#""id":"blosc""#);
        assert_eq!(e.code(), "ERR_ZARR_UNSUPPORTED_CODEC");
        assert!(e.to_string().contains("blosc"), "{e}");
        let e = v2(r#""order":"C""#, r#""order":"F""#);
        assert_eq!(e.code(), "ERR_ZARR_UNSUPPORTED_CODEC");
        assert!(e.to_string().contains("Fortran"), "{e}");
        let e = v2(r#""filters":null"#, r#""filters":[{"id":"delta"}]"#);
        assert_eq!(e.code(), "ERR_ZARR_UNSUPPORTED_CODEC");
        assert!(e.to_string().contains("delta"), "{e}");
        assert_eq!(
            v2(r#""chunks":[3]"#, r#""chunks":[3,1]"#).code(),
            "ERR_ZARR_METADATA"
        );
        assert_eq!(
            v2(r#""chunks":[3]"#, r#""chunks":[0]"#).code(),
            "ERR_ZARR_METADATA"
        );
        assert_eq!(
            v2(r#""shape":[3]"#, r#""shape":[-3]"#).code(),
            "ERR_ZARR_METADATA"
        );
        assert_eq!(
            v2(r#""zarr_format":2"#, r#""zarr_format":3"#).code(),
            "ERR_ZARR_METADATA"
        );
        assert_eq!(
            v2(r#""chunks":[3]"#, r#""chunks":[4611686018427387904]"#).code(),
            "ERR_ZARR_METADATA"
        );
        let e = ArrayMetadata::parse("{not json", ZarrFormat::V2, "f").unwrap_err();
        assert_eq!(e.code(), "ERR_ZARR_METADATA");

        let v3 = |from: &str, to: &str| {
            ArrayMetadata::parse(&V3_F32.replace(from, to), ZarrFormat::V3, "zarr.json")
                .unwrap_err()
        };
        assert_eq!(
            v3(r#""data_type":"float32""#, r#""data_type":"uint4""#).code(),
            "ERR_ZARR_UNSUPPORTED_DTYPE"
        );
        assert_eq!(
            v3(r#""name":"zstd""#, r#""name":"gzip""#).code(),
            "ERR_ZARR_UNSUPPORTED_CODEC"
        );
        assert_eq!(
            v3(r#""name":"regular""#, r#""name":"rectilinear""#).code(),
            "ERR_ZARR_UNSUPPORTED_CODEC"
        );
        assert_eq!(
            v3(
                r#""chunk_shape":[16,16],"codecs""#,
                r#""chunk_shape":[16,5],"codecs""#
            )
            .code(),
            "ERR_ZARR_METADATA"
        );
        let e = v3(
            r#""name":"sharding_indexed"}]"#,
            r#""name":"sharding_indexed"},{"configuration":{"checksum":false,"level":3},"name":"zstd"}]"#,
        );
        assert_eq!(e.code(), "ERR_ZARR_UNSUPPORTED_CODEC", "{e}");
        let transposed = r#"{"chunk_grid":{"configuration":{"chunk_shape":[2,2]},"name":"regular"},"codecs":[{"configuration":{"order":[1,0]},"name":"transpose"},{"name":"bytes"}],"data_type":"uint8","fill_value":0,"node_type":"array","shape":[2,2],"zarr_format":3}"#;
        let e = ArrayMetadata::parse(transposed, ZarrFormat::V3, "zarr.json").unwrap_err();
        assert!(e.to_string().contains("transpose"), "{e}");
        assert_eq!(e.code(), "ERR_ZARR_UNSUPPORTED_CODEC", "{e}");
    }

    #[test]
    fn plain_v3_chains_parse() {
        let text = r#"{"chunk_grid":{"configuration":{"chunk_shape":[2]},"name":"regular"},"chunk_key_encoding":{"name":"v2"},"codecs":[{"configuration":{"endian":"big"},"name":"bytes"},{"configuration":{"checksum":true,"level":5},"name":"zstd"},{"name":"crc32c"}],"data_type":"int16","dimension_names":["x"],"fill_value":7,"node_type":"array","shape":[5],"zarr_format":3}"#;
        let m = ArrayMetadata::parse(text, ZarrFormat::V3, "t").unwrap();
        assert!(m.sharding().is_none());
        assert_eq!(
            *m.codecs(),
            ChunkCodecs {
                endian: Endian::Big,
                bytes_configured: true,
                zstd: Some(ZstdConfig {
                    level: 5,
                    checksum: true
                }),
                crc32c: true
            }
        );
        assert_eq!(m.chunk_key_encoding().suffix(&[4]), "4");
        assert_eq!(m.fill_value().host_bytes(), 7i16.to_le_bytes());
        assert_eq!(m.encode(), text);
    }
}
