//! Secrets in `broker.toml`: the value type ([`Secret`]) and where it comes from ([`SecretSource`]).
//!
//! Every secret field `x` of a table may be written three ways (docs/API.md "Configuration"): `x = "literal"`,
//! `x_env = "VAR"` or `x_file = "path"`, exactly one of them. A raw table opts in by deriving `Deserialize` with
//! `#[serde(remote = "Self", deny_unknown_fields)]`, typing the field `Option<SecretSource>`, and listing itself in
//! [`secret_spellings!`]. The table's `Deserialize` then runs the derived one through [`Spellings`], which renames
//! `x_env` / `x_file` to `x` when `x` is a field of the table (and `x_env` / `x_file` are not), so unknown fields are
//! still refused by `deny_unknown_fields`, with the key's own line.
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A secret value; never printed, and wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret field's value comes from; read by [`SecretSource::resolve`] once the file is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `x = "..."` in the file itself.
    Literal(Secret),
    /// `x_env = "VAR"`.
    Env(String),
    /// `x_file = "path"` (relative paths resolve against the config file's directory).
    File(PathBuf),
}

impl SecretSource {
    /// The secret, or a problem naming the field and the variable or file (never a value).
    pub fn resolve(self, field: &str, base_dir: Option<&Path>) -> Result<Secret, String> {
        match self {
            Self::Literal(s) => Ok(s),
            Self::Env(var) => match std::env::var(&var) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                _ => Err(format!(
                    "{field}_env: environment variable {var} is not set"
                )),
            },
            Self::File(path) => {
                let path = match base_dir {
                    Some(base) if path.is_relative() => base.join(path),
                    _ => path,
                };
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{field}_file {}: {e}", path.display()))?;
                let mut secret = Secret(text);
                // Kubernetes secrets and editors often end files with a newline that is not part of the secret.
                let len = secret.0.trim_end_matches(['\n', '\r']).len();
                secret.0.truncate(len);
                if secret.0.is_empty() {
                    return Err(format!("{field}_file {} is empty", path.display()));
                }
                Ok(secret)
            }
        }
    }
}

/// Map keys only [`Spellings`] produces, so a TOML table cannot stand in for `x_env` / `x_file`.
const ENV_TAG: &str = "$__presign_broker_secret_env";
const FILE_TAG: &str = "$__presign_broker_secret_file";

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSource, E> {
                Ok(SecretSource::Literal(Secret::new(v)))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SecretSource, E> {
                Ok(SecretSource::Literal(Secret(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
                let (tag, value): (String, String) = map
                    .next_entry()?
                    .ok_or_else(|| de::Error::invalid_type(de::Unexpected::Map, &self))?;
                match tag.as_str() {
                    ENV_TAG => Ok(SecretSource::Env(value)),
                    FILE_TAG => Ok(SecretSource::File(value.into())),
                    _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Implements `Deserialize` for raw tables derived with `#[serde(remote = "Self")]`: the derived function, run
/// through [`Spellings`].
macro_rules! secret_spellings {
    ($($table:ty),+ $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $table {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::deserialize($crate::config::secret::Spellings(d))
            }
        }
    )+};
}
pub(crate) use secret_spellings;

/// A deserializer that hands a struct's visitor a map in which `x_env` / `x_file` read as `x`.
pub struct Spellings<D>(pub D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Spellings<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_struct(name, fields, StructVisitor { visitor, fields })
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

struct StructVisitor<V> {
    visitor: V,
    fields: &'static [&'static str],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StructVisitor<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(SpellingMap {
            map,
            fields: self.fields,
            seen: Vec::new(),
            pending: None,
        })
    }
}

struct SpellingMap<A> {
    map: A,
    fields: &'static [&'static str],
    /// Fields given so far (by any spelling), to refuse a second spelling of one secret.
    seen: Vec<&'static str>,
    /// The tag of the value to read next, when its key was `x_env` / `x_file`.
    pending: Option<(&'static str, &'static str)>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SpellingMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // The key is renamed inside the inner map's key deserialization, so errors (unknown field, two
        // spellings) carry the key's position.
        self.map.next_key_seed(KeySeed {
            seed,
            fields: self.fields,
            seen: &mut self.seen,
            pending: &mut self.pending,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match self.pending.take() {
            None => self.map.next_value_seed(seed),
            Some((name, tag)) => self.map.next_value_seed(TaggedSeed { seed, name, tag }),
        }
    }
}

struct KeySeed<'a, K> {
    seed: K,
    fields: &'static [&'static str],
    seen: &'a mut Vec<&'static str>,
    pending: &'a mut Option<(&'static str, &'static str)>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = K::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        let key = String::deserialize(d)?;
        let field = |name: &str| self.fields.iter().copied().find(|f| *f == name);
        let spelled = if field(&key).is_some() {
            None
        } else if let Some(base) = key.strip_suffix("_env").and_then(field) {
            Some((base, ENV_TAG))
        } else if let Some(base) = key.strip_suffix("_file").and_then(field) {
            Some((base, FILE_TAG))
        } else {
            None
        };
        let name = match spelled {
            Some((base, tag)) => {
                *self.pending = Some((base, tag));
                base
            }
            None => match field(&key) {
                Some(f) => f,
                // Unknown: the derived seed reports it (deny_unknown_fields).
                None => return self.seed.deserialize(key.into_deserializer()),
            },
        };
        if self.seen.contains(&name) {
            return Err(de::Error::custom(format!(
                "give only one of {name}, {name}_env, {name}_file"
            )));
        }
        self.seen.push(name);
        self.seed.deserialize(name.into_deserializer())
    }
}

/// Feeds the value of `x_env` / `x_file` to the field's seed as a one-entry tagged map, which only
/// [`SecretSource`] accepts.
struct TaggedSeed<S> {
    seed: S,
    name: &'static str,
    tag: &'static str,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for TaggedSeed<S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        let value = String::deserialize(d)?;
        self.seed.deserialize(Tagged::<D::Error> {
            name: self.name,
            tag: self.tag,
            value,
            error: std::marker::PhantomData,
        })
    }
}

struct Tagged<E> {
    name: &'static str,
    tag: &'static str,
    value: String,
    error: std::marker::PhantomData<E>,
}

impl<E: de::Error> Tagged<E> {
    /// `x_env` / `x_file` given for a field `x` that is not a secret.
    fn not_a_secret(&self) -> E {
        let spelling = if self.tag == ENV_TAG { "_env" } else { "_file" };
        E::custom(format!(
            "{}{spelling}: {} is not a secret; give it literally",
            self.name, self.name
        ))
    }
}

macro_rules! not_a_secret {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
            Err(self.not_a_secret())
        }
    )*};
}

impl<'de, E: de::Error> Deserializer<'de> for Tagged<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_map(de::value::MapDeserializer::new(std::iter::once((
            self.tag, self.value,
        ))))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_some(self)
    }

    not_a_secret! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_seq deserialize_map deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, E> {
        Err(self.not_a_secret())
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, E> {
        Err(self.not_a_secret())
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, E> {
        Err(self.not_a_secret())
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, E> {
        Err(self.not_a_secret())
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, E> {
        Err(self.not_a_secret())
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, E> {
        Err(self.not_a_secret())
    }
}
