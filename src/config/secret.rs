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
    /// Checked without exposing the value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
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
        // A field of its own (e.g. `public_key_file`) is never read as a spelling.
        let name = match field(&key) {
            Some(f) => f,
            None => {
                let spelled = [("_env", ENV_TAG), ("_file", FILE_TAG)]
                    .into_iter()
                    .find_map(|(suffix, tag)| {
                        Some((key.strip_suffix(suffix).and_then(field)?, tag))
                    });
                match spelled {
                    Some((base, tag)) => {
                        *self.pending = Some((base, tag));
                        base
                    }
                    // Unknown: the derived seed reports it (deny_unknown_fields).
                    None => return self.seed.deserialize(key.into_deserializer()),
                }
            }
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

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, KeyMaterial, ProviderConfig, RedisTopology};

    const KEY: &str = "[auth]\n[[auth.keys]]\nalgorithm = \"HS256\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse("broker.toml", text, None)
    }

    /// Every secret field of every table, each spelled `{field}{suffix} = {value(field)}`.
    fn every_secret(suffix: &str, value: impl Fn(&str) -> String) -> String {
        let s = |table: &str, field: &str| {
            format!(
                "{field}{suffix} = {:?}\n",
                value(&format!("{table}.{field}"))
            )
        };
        format!(
            "[auth]\n[[auth.keys]]\nalgorithm = \"HS256\"\n{}\
             [redis]\n{}\
             [callbacks]\n{}\
             [stores.a]\nprovider = \"s3\"\nregion = \"r\"\nbucket = \"b\"\n{}{}{}\
             [stores.a.callback]\n{}\
             [stores.c]\nprovider = \"cos\"\nregion = \"r\"\nbucket = \"b-1\"\n{}{}{}\
             [stores.q]\nprovider = \"qiniu\"\nbucket = \"b\"\nupload_url = \"https://up.example.com\"\n{}{}\
             [stores.o]\nprovider = \"oss\"\nregion = \"cn-hangzhou\"\nbucket = \"b-1\"\n{}{}{}",
            s("key", "secret"),
            s("redis", "url"),
            s("callbacks", "ticket_secret"),
            s("a", "access_key"),
            s("a", "secret_key"),
            s("a", "session_token"),
            s("a.callback", "webhook_token"),
            s("c", "secret_id"),
            s("c", "secret_key"),
            s("c", "session_token"),
            s("q", "access_key"),
            s("q", "secret_key"),
            s("o", "access_key_id"),
            s("o", "access_key_secret"),
            s("o", "security_token"),
        )
    }

    /// The value each secret field ended up with, by `table.field`.
    fn secrets_of(c: &Config) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put =
            |name: &str, s: &super::Secret| out.push((name.to_string(), s.expose().to_string()));
        let KeyMaterial::Secret(k) = &c.auth.keys[0].material else {
            panic!("HS key")
        };
        put("key.secret", k);
        let Some(RedisTopology::Single(url)) = c.redis.as_ref().map(|r| &r.topology) else {
            panic!("redis url")
        };
        put("redis.url", url);
        put(
            "callbacks.ticket_secret",
            c.callbacks.ticket_secret.as_ref().expect("ticket"),
        );
        for (name, store) in &c.stores {
            match &store.provider {
                ProviderConfig::S3 {
                    access_key,
                    secret_key,
                    session_token,
                    callback,
                    ..
                } => {
                    put(&format!("{name}.access_key"), access_key);
                    put(&format!("{name}.secret_key"), secret_key);
                    put(
                        &format!("{name}.session_token"),
                        session_token.as_ref().expect("token"),
                    );
                    let token = callback.as_ref().and_then(|c| c.webhook_token.as_ref());
                    put(
                        &format!("{name}.callback.webhook_token"),
                        token.expect("webhook token"),
                    );
                }
                ProviderConfig::Cos {
                    secret_id,
                    secret_key,
                    session_token,
                    ..
                } => {
                    put(&format!("{name}.secret_id"), secret_id);
                    put(&format!("{name}.secret_key"), secret_key);
                    put(
                        &format!("{name}.session_token"),
                        session_token.as_ref().expect("token"),
                    );
                }
                ProviderConfig::Qiniu {
                    access_key,
                    secret_key,
                    ..
                } => {
                    put(&format!("{name}.access_key"), access_key);
                    put(&format!("{name}.secret_key"), secret_key);
                }
                ProviderConfig::Oss {
                    access_key_id,
                    access_key_secret,
                    security_token,
                    ..
                } => {
                    put(&format!("{name}.access_key_id"), access_key_id);
                    put(&format!("{name}.access_key_secret"), access_key_secret);
                    put(
                        &format!("{name}.security_token"),
                        security_token.as_ref().expect("token"),
                    );
                }
            }
        }
        out
    }

    /// A value for `table.field` long enough for every check (HS keys need 32 bytes), marked for leak checks.
    fn known(field: &str) -> String {
        let value = format!("SECRET-MARK-{field}-0123456789abcdef0123456789abcdef");
        if field == "redis.url" {
            format!("redis://:{value}@127.0.0.1:6379/0")
        } else {
            value
        }
    }

    fn assert_every_secret_read(c: &Config) {
        let got = secrets_of(c);
        assert_eq!(got.len(), 15, "{got:?}");
        for (field, value) in got {
            assert_eq!(value, known(&field), "{field}");
        }
        assert!(
            !format!("{c:?}").contains("SECRET-MARK"),
            "Debug of Config shows a secret"
        );
    }

    #[test]
    fn every_secret_field_takes_a_literal() {
        let c = parse(&every_secret("", known)).expect("literal secrets");
        assert_every_secret_read(&c);
    }

    #[test]
    fn every_secret_field_takes_an_environment_variable() {
        let var =
            |field: &str| format!("PB_TEST_SECRET_{}", field.replace('.', "_").to_uppercase());
        let text = every_secret("_env", var);
        for field in secrets_of(&parse(&every_secret("", known)).expect("literal"))
            .into_iter()
            .map(|(f, _)| f)
        {
            // Names unique to this test, so parallel tests never see them.
            std::env::set_var(var(&field), known(&field));
        }
        assert_every_secret_read(&parse(&text).expect("env secrets"));
    }

    #[test]
    fn every_secret_field_takes_a_file_relative_to_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = secrets_of(&parse(&every_secret("", known)).expect("literal"));
        for (field, _) in &names {
            // A trailing newline (as editors and Kubernetes write) is not part of the secret.
            std::fs::write(dir.path().join(field), format!("{}\n", known(field))).expect("write");
        }
        let text = every_secret("_file", |field| field.to_string());
        let c = Config::parse("broker.toml", &text, Some(dir.path())).expect("file secrets");
        assert_every_secret_read(&c);
    }

    #[test]
    fn two_spellings_of_one_secret_are_refused_at_the_second() {
        let cases: &[(&str, usize, &str)] = &[
            ("[stores.m]\nprovider = \"s3\"\nregion = \"r\"\nbucket = \"b\"\naccess_key = \"SECRET-MARK-a\"\naccess_key_env = \"B\"\nsecret_key = \"s\"\n", 5, "access_key"),
            ("[stores.m]\nprovider = \"qiniu\"\nbucket = \"b\"\nupload_url = \"u\"\naccess_key = \"a\"\nsecret_key_file = \"f\"\nsecret_key = \"SECRET-MARK-b\"\n", 5, "secret_key"),
            ("[callbacks]\nticket_secret_env = \"A\"\nticket_secret_file = \"f\"\n", 7, "ticket_secret"),
            ("[redis]\nurl = \"redis://:SECRET-MARK-c@h/\"\nurl_env = \"U\"\n", 7, "url"),
            ("[stores.m]\nprovider = \"oss\"\nregion = \"cn-hangzhou\"\nbucket = \"b\"\naccess_key_id = \"a\"\naccess_key_secret_file = \"f\"\naccess_key_secret = \"SECRET-MARK-d\"\n", 5, "access_key_secret"),
        ];
        for (table, line, field) in cases {
            let text = format!("{KEY}{table}");
            let e = parse(&text).expect_err(table);
            let shown = e.to_string();
            assert!(
                shown.contains(&format!(
                    "give only one of {field}, {field}_env, {field}_file"
                )),
                "{shown}"
            );
            assert!(!shown.contains("SECRET-MARK"), "{shown}");
            // Stores are read through serde's buffered (tagged) path, which knows only the table's line.
            assert!(e.line >= *line, "{shown}");
        }
        // Outside the tagged store tables the second spelling's own line is reported.
        let e = parse(
            "[auth]\n[[auth.keys]]\nalgorithm = \"HS256\"\nsecret = \"x\"\nsecret_env = \"X\"\n",
        )
        .expect_err("two");
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn a_missing_or_empty_source_names_the_field_and_the_variable_or_file_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("empty"), "\n").expect("write");
        std::env::set_var("PB_TEST_SECRET_EMPTY_VAR", "");
        let store = "[stores.m]\nprovider = \"cos\"\nregion = \"r\"\nbucket = \"b\"\nsecret_id = \"SECRET-MARK-id\"\n";
        let cases: &[(&str, &str)] = &[
            ("secret_key_env = \"PB_TEST_SURELY_UNSET_VAR\"\n", "[stores.m] secret_key_env: environment variable PB_TEST_SURELY_UNSET_VAR is not set"),
            ("secret_key_env = \"PB_TEST_SECRET_EMPTY_VAR\"\n", "[stores.m] secret_key_env: environment variable PB_TEST_SECRET_EMPTY_VAR is not set"),
            ("secret_key_file = \"missing\"\n", "[stores.m] secret_key_file "),
            ("secret_key_file = \"empty\"\n", "is empty"),
        ];
        for (field, needle) in cases {
            let text = format!("{KEY}{store}{field}");
            let e = Config::parse("broker.toml", &text, Some(dir.path()))
                .expect_err(field)
                .to_string();
            assert!(e.contains(needle), "{e} should mention {needle:?}");
            assert!(e.starts_with("broker.toml:5: "), "{e}");
            assert!(!e.contains("SECRET-MARK"), "{e}");
        }
        let e = Config::parse(
            "broker.toml",
            &format!("{KEY}{store}secret_key_file = \"missing\"\n"),
            Some(dir.path()),
        )
        .expect_err("missing file")
        .to_string();
        assert!(
            e.contains(&dir.path().join("missing").display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn only_secret_fields_take_env_and_file_spellings_and_unknown_fields_keep_their_line() {
        let e = parse(&format!(
            "{KEY}[stores.m]\nprovider = \"s3\"\nregion = \"r\"\nbucket_env = \"B\"\n"
        ))
        .expect_err("bucket_env")
        .to_string();
        assert!(e.contains("bucket_env: bucket is not a secret"), "{e}");
        // A table standing in for `x_env` is not a spelling.
        let e = parse("[callbacks]\nticket_secret = { env = \"X\" }\n[auth]\n").expect_err("table");
        assert!(e.to_string().contains("expected a string"), "{e}");
        let e = parse(&format!("{KEY}secrett_env = \"X\"\n")).expect_err("unknown");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.to_string().contains("unknown field `secrett_env`"), "{e}");
        let e = parse(&format!(
            "{KEY}[redis]\nurl = \"redis://h/\"\nurl_fiel = \"f\"\n"
        ))
        .expect_err("unknown");
        assert_eq!(e.line, 7, "{e}");
        // `public_key_file` is a field of its own (a path), not a spelling of a secret.
        let e = parse("[auth]\n[[auth.keys]]\nalgorithm = \"RS256\"\npublic_key_file = \"/nonexistent.pem\"\n").expect_err("pem");
        assert!(
            e.to_string().contains("public_key_file /nonexistent.pem"),
            "{e}"
        );
    }
}
