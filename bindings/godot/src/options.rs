//! GDScript's `join({...})` and `update_mute_config({...})` dictionaries, read into voipchat's
//! Rust types with WeChat's key names. Every problem is a -1001 error whose message names the
//! key in GDScript's terms ("timeStamp must be an int, got String"); nothing here can panic.

use voipchat::{ErrorCode, JoinParams, MuteConfig, RoomType, VoipError};

use crate::value::Value;
use std::collections::BTreeMap;

/// Frame lengths the SDK accepts, in milliseconds.
pub const FRAME_MS_CHOICES: [i64; 2] = [10, 20];

/// The node's exported properties that a join falls back on when its dictionary leaves a key
/// out: a game usually sets the relay once, in the inspector, and passes only the signed part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSettings {
    pub server: String,
    pub server_cert_sha256: String,
    pub app_id: String,
    pub frame_ms: i64,
}

/// Where and how a client connects: a `Client` is built for one of these and reused while
/// later joins ask for the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub server: String,
    pub server_cert_sha256: Option<String>,
    pub frame_ms: u32,
}

/// Everything a join needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub params: JoinParams,
    pub connection: Connection,
}

fn invalid(message: impl Into<String>) -> VoipError {
    VoipError::new(ErrorCode::InvalidArgument, message)
}

fn wrong_type(key: &str, expected: &str, got: &Value) -> VoipError {
    invalid(format!("{key} must be {expected}, got {}", got.type_name()))
}

/// Reads GDScript options. Keys are WeChat's; unknown keys (say, `success` callbacks kept from
/// a WeChat port) are ignored.
struct Options<'a> {
    map: &'a BTreeMap<String, Value>,
}

impl<'a> Options<'a> {
    fn new(value: &'a Value, what: &str) -> Result<Self, VoipError> {
        value
            .as_dict()
            .map(|map| Options { map })
            .ok_or_else(|| wrong_type(what, "a Dictionary", value))
    }

    /// A present, non-null value.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| **v != Value::Nil)
    }

    fn optional_string(&self, key: &str) -> Result<Option<&'a str>, VoipError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(key, "a String", other)),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, VoipError> {
        match self.optional_string(key)? {
            None => Err(invalid(format!("{key} is required"))),
            Some("") => Err(invalid(format!("{key} must not be empty"))),
            Some(s) => Ok(s.to_owned()),
        }
    }

    /// A string key that may instead come from a node property.
    fn string_or(&self, key: &str, fallback: &str, property: &str) -> Result<String, VoipError> {
        match self.optional_string(key)? {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ if !fallback.is_empty() => Ok(fallback.to_owned()),
            _ => Err(invalid(format!(
                "{key} is required (a join option, or the VoipChat.{property} property)"
            ))),
        }
    }

    /// An integer. A float with no fractional part is accepted too: `JSON.parse_string` in
    /// GDScript reads every number as a float, and a backend's signed join usually arrives as
    /// JSON.
    fn optional_int(&self, key: &str) -> Result<Option<i64>, VoipError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
            Some(Value::Float(f)) => Err(invalid(format!("{key} must be a whole number, got {f}"))),
            Some(other) => Err(wrong_type(key, "an int", other)),
        }
    }

    fn optional_bool(&self, key: &str) -> Result<Option<bool>, VoipError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(key, "a bool", other)),
        }
    }
}

/// `join(options)`: the WeChat keys `appId`, `openId`, `groupId`, `nonceStr`, `timeStamp`,
/// `signature`, optional `roomType` ("voice" or "video") and `muteConfig`; and the connection
/// keys `server`, `serverCertSha256` and `frameMs`, each of which may come from the node.
pub fn parse_join(options: &Value, node: &NodeSettings) -> Result<JoinRequest, VoipError> {
    let o = Options::new(options, "options")?;

    let app_id = o.string_or("appId", &node.app_id, "app_id")?;
    let open_id = o.required_string("openId")?;
    let group_id = o.required_string("groupId")?;
    let nonce_str = o.required_string("nonceStr")?;
    let time_stamp = o
        .optional_int("timeStamp")?
        .ok_or_else(|| invalid("timeStamp is required"))?;
    let signature = o.required_string("signature")?;
    let room_type = match o.optional_string("roomType")? {
        None | Some("voice") => RoomType::Voice,
        Some("video") => RoomType::Video,
        Some(other) => {
            return Err(invalid(format!(
                "roomType must be \"voice\" or \"video\", got \"{other}\""
            )))
        }
    };
    let mute_config = match o.get("muteConfig") {
        None => MuteConfig::default(),
        Some(value) => mute_fields(value, "muteConfig")?,
    };

    let server = o.string_or("server", &node.server, "server")?;
    let server_cert_sha256 = match o.optional_string("serverCertSha256")? {
        Some(pin) => pin.to_owned(),
        None => node.server_cert_sha256.clone(),
    };
    let frame_ms = match o.optional_int("frameMs")? {
        Some(ms) => ms,
        None => node.frame_ms,
    };
    if !FRAME_MS_CHOICES.contains(&frame_ms) {
        return Err(invalid(format!("frameMs must be 10 or 20, got {frame_ms}")));
    }

    Ok(JoinRequest {
        params: JoinParams {
            app_id,
            open_id,
            group_id,
            nonce_str,
            time_stamp,
            signature,
            room_type,
            mute_config,
        },
        connection: Connection {
            server,
            server_cert_sha256: Some(server_cert_sha256).filter(|pin| !pin.is_empty()),
            frame_ms: frame_ms as u32,
        },
    })
}

/// `update_mute_config(options)`: WeChat's `{"muteConfig": {...}}`, or the inner
/// `{"muteMicrophone": ..., "muteEarphone": ...}` alone. A key left out means "not muted", as in
/// WeChat, where `muteConfig` replaces the whole configuration.
pub fn parse_mute_update(options: &Value) -> Result<MuteConfig, VoipError> {
    let o = Options::new(options, "options")?;
    match o.get("muteConfig") {
        Some(inner) => mute_fields(inner, "muteConfig"),
        None if o.map.contains_key("muteMicrophone") || o.map.contains_key("muteEarphone") => {
            mute_fields(options, "options")
        }
        None => Err(invalid("muteConfig is required")),
    }
}

fn mute_fields(value: &Value, what: &str) -> Result<MuteConfig, VoipError> {
    let o = Options::new(value, what)?;
    Ok(MuteConfig {
        mute_microphone: o.optional_bool("muteMicrophone")?.unwrap_or(false),
        mute_earphone: o.optional_bool("muteEarphone")?.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    /// What a game passes once its backend has signed the join.
    fn full() -> Vec<(&'static str, Value)> {
        vec![
            ("appId", s("wx123")),
            ("openId", s("alice")),
            ("groupId", s("match-42")),
            ("nonceStr", s("8f3a")),
            ("timeStamp", Value::Int(1_700_000_000)),
            ("signature", s("ab".repeat(32).as_str())),
            ("roomType", s("voice")),
            (
                "muteConfig",
                Value::dict([
                    ("muteMicrophone", Value::Bool(true)),
                    ("muteEarphone", Value::Bool(false)),
                ]),
            ),
            ("server", s("127.0.0.1:4433")),
            ("serverCertSha256", s("cd".repeat(32).as_str())),
        ]
    }

    fn node() -> NodeSettings {
        NodeSettings {
            frame_ms: 20,
            ..NodeSettings::default()
        }
    }

    fn with(changes: &[(&'static str, Option<Value>)]) -> Value {
        let mut entries = full();
        for (key, change) in changes {
            entries.retain(|(k, _)| k != key);
            if let Some(v) = change {
                entries.push((key, v.clone()));
            }
        }
        Value::dict(entries)
    }

    fn error(options: &Value) -> VoipError {
        parse_join(options, &node()).expect_err("should be rejected")
    }

    #[test]
    fn a_full_dictionary_becomes_join_params() {
        let request = parse_join(&with(&[]), &node()).unwrap();
        assert_eq!(
            request.params,
            JoinParams {
                app_id: "wx123".into(),
                open_id: "alice".into(),
                group_id: "match-42".into(),
                nonce_str: "8f3a".into(),
                time_stamp: 1_700_000_000,
                signature: "ab".repeat(32),
                room_type: RoomType::Voice,
                mute_config: MuteConfig {
                    mute_microphone: true,
                    mute_earphone: false,
                },
            }
        );
        assert_eq!(
            request.connection,
            Connection {
                server: "127.0.0.1:4433".into(),
                server_cert_sha256: Some("cd".repeat(32)),
                frame_ms: 20,
            }
        );
    }

    #[test]
    fn optional_keys_default_like_wechat() {
        let request =
            parse_join(&with(&[("roomType", None), ("muteConfig", None)]), &node()).unwrap();
        assert_eq!(request.params.room_type, RoomType::Voice);
        assert_eq!(request.params.mute_config, MuteConfig::default());
        let video = parse_join(&with(&[("roomType", Some(s("video")))]), &node()).unwrap();
        assert_eq!(video.params.room_type, RoomType::Video);
        // A null is the same as leaving the key out.
        let nulls = parse_join(
            &with(&[
                ("roomType", Some(Value::Nil)),
                ("muteConfig", Some(Value::Nil)),
            ]),
            &node(),
        )
        .unwrap();
        assert_eq!(nulls.params, request.params);
    }

    #[test]
    fn connection_keys_fall_back_on_node_properties() {
        let settings = NodeSettings {
            server: "relay.example.com:4433".into(),
            server_cert_sha256: "ef".repeat(32),
            app_id: "wx-node".into(),
            frame_ms: 10,
        };
        let options = with(&[
            ("server", None),
            ("serverCertSha256", None),
            ("appId", None),
        ]);
        let request = parse_join(&options, &settings).unwrap();
        assert_eq!(request.params.app_id, "wx-node");
        assert_eq!(request.connection.server, "relay.example.com:4433");
        assert_eq!(request.connection.server_cert_sha256, Some("ef".repeat(32)));
        assert_eq!(request.connection.frame_ms, 10);
        // Keys in the dictionary win over properties.
        let request = parse_join(&with(&[("frameMs", Some(Value::Int(20)))]), &settings).unwrap();
        assert_eq!(request.params.app_id, "wx123");
        assert_eq!(request.connection.server, "127.0.0.1:4433");
        assert_eq!(request.connection.frame_ms, 20);
        // An empty pin means "trust the system's roots".
        let request = parse_join(&with(&[("serverCertSha256", Some(s("")))]), &node()).unwrap();
        assert_eq!(request.connection.server_cert_sha256, None);
    }

    #[test]
    fn a_float_timestamp_from_json_is_accepted_when_whole() {
        let request =
            parse_join(&with(&[("timeStamp", Some(Value::Float(1.7e9)))]), &node()).unwrap();
        assert_eq!(request.params.time_stamp, 1_700_000_000);
        let e = error(&with(&[("timeStamp", Some(Value::Float(1.5)))]));
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(e.reason.contains("timeStamp"), "{}", e.reason);
    }

    #[test]
    fn each_missing_required_key_is_named_in_a_1001() {
        for key in ["openId", "groupId", "nonceStr", "timeStamp", "signature"] {
            let e = error(&with(&[(key, None)]));
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{key}");
            assert_eq!(e.code.as_i32(), -1001);
            assert_eq!(e.reason, format!("{key} is required"));
        }
        for (key, property) in [("appId", "app_id"), ("server", "server")] {
            let e = error(&with(&[(key, None)]));
            assert_eq!(e.code.as_i32(), -1001, "{key}");
            assert!(
                e.reason.starts_with(&format!("{key} is required"))
                    && e.reason.contains(&format!("VoipChat.{property}")),
                "{}",
                e.reason
            );
        }
    }

    #[test]
    fn empty_strings_are_rejected_with_the_key_name() {
        for key in ["openId", "groupId", "nonceStr", "signature"] {
            let e = error(&with(&[(key, Some(s("")))]));
            assert_eq!(e.code.as_i32(), -1001);
            assert_eq!(e.reason, format!("{key} must not be empty"));
        }
    }

    #[test]
    fn wrong_types_are_1001_never_a_panic() {
        let cases: Vec<(&'static str, Value, &str)> = vec![
            (
                "groupId",
                Value::Int(42),
                "groupId must be a String, got int",
            ),
            (
                "appId",
                Value::Bool(true),
                "appId must be a String, got bool",
            ),
            (
                "openId",
                Value::Array(vec![]),
                "openId must be a String, got Array",
            ),
            (
                "nonceStr",
                Value::Float(1.0),
                "nonceStr must be a String, got float",
            ),
            (
                "signature",
                Value::Other("Object".into()),
                "signature must be a String, got Object",
            ),
            (
                "timeStamp",
                s("1700000000"),
                "timeStamp must be an int, got String",
            ),
            (
                "timeStamp",
                Value::Bool(false),
                "timeStamp must be an int, got bool",
            ),
            (
                "roomType",
                Value::Int(1),
                "roomType must be a String, got int",
            ),
            (
                "roomType",
                s("audio"),
                "roomType must be \"voice\" or \"video\", got \"audio\"",
            ),
            (
                "muteConfig",
                Value::Bool(true),
                "muteConfig must be a Dictionary, got bool",
            ),
            (
                "muteConfig",
                Value::dict([("muteMicrophone", s("yes"))]),
                "muteMicrophone must be a bool, got String",
            ),
            (
                "muteConfig",
                Value::dict([("muteEarphone", Value::Int(1))]),
                "muteEarphone must be a bool, got int",
            ),
            (
                "server",
                Value::Int(4433),
                "server must be a String, got int",
            ),
            (
                "serverCertSha256",
                Value::Other("PackedByteArray".into()),
                "serverCertSha256 must be a String, got PackedByteArray",
            ),
            (
                "frameMs",
                Value::Int(15),
                "frameMs must be 10 or 20, got 15",
            ),
            ("frameMs", s("20"), "frameMs must be an int, got String"),
        ];
        for (key, value, message) in cases {
            let e = error(&with(&[(key, Some(value))]));
            assert_eq!(e.code.as_i32(), -1001, "{key}");
            assert_eq!(e.reason, message);
        }
    }

    #[test]
    fn options_that_are_not_a_dictionary_are_1001() {
        for value in [Value::Nil, Value::Int(3), Value::Array(vec![])] {
            let e = parse_join(&value, &node()).unwrap_err();
            assert_eq!(e.code.as_i32(), -1001);
            assert!(e.reason.starts_with("options must be a Dictionary"));
        }
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let mut entries = full();
        entries.push(("success", Value::Other("Callable".into())));
        assert!(parse_join(&Value::dict(entries), &node()).is_ok());
    }

    #[test]
    fn mute_updates_take_wechat_shape_or_the_inner_dictionary() {
        let inner = Value::dict([("muteMicrophone", Value::Bool(true))]);
        let expected = MuteConfig {
            mute_microphone: true,
            mute_earphone: false,
        };
        assert_eq!(
            parse_mute_update(&Value::dict([("muteConfig", inner.clone())])),
            Ok(expected)
        );
        assert_eq!(parse_mute_update(&inner), Ok(expected));
        let e = parse_mute_update(&Value::dict([("x", Value::Int(1))])).unwrap_err();
        assert_eq!(
            (e.code.as_i32(), e.reason.as_str()),
            (-1001, "muteConfig is required")
        );
        let e = parse_mute_update(&Value::dict([("muteConfig", Value::Int(1))])).unwrap_err();
        assert_eq!(e.reason, "muteConfig must be a Dictionary, got int");
        let e = parse_mute_update(&Value::dict([("muteEarphone", s("no"))])).unwrap_err();
        assert_eq!(e.reason, "muteEarphone must be a bool, got String");
    }
}
