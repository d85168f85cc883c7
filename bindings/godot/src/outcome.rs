//! What the SDK reports (call results and events) turned into the node's signals and their
//! arguments, plus the little state the node keeps for its getters. Engine-free: `node.rs`
//! only maps each [`Emission`] to one typed `emit`.
//!
//! Every message travels through one channel, from SDK threads to the main thread, and is
//! turned into signals in `_process`. That includes failures known at once (a -1001 for a
//! missing key): `var result = await voip.join_completed` right after `voip.join(options)`
//! would miss a signal emitted inside `join()` itself.

use voipchat::{ChatState, Event, VoipError};

use crate::value::Value;

/// One message from the SDK to the main thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Join(Result<Vec<String>, VoipError>),
    Exit(Result<(), VoipError>),
    UpdateMute(Result<(), VoipError>),
    SubscribeVideo(Result<(), VoipError>),
    Event(Event),
}

/// One signal and its arguments, in GDScript's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Emission {
    JoinSucceeded {
        open_id_list: Vec<String>,
    },
    JoinFailed {
        err_code: i64,
        err_msg: String,
    },
    /// `{errCode, errMsg}` plus `openIdList` on success: WeChat's `complete` result.
    JoinCompleted {
        result: Value,
    },
    /// `{errCode, errMsg}` of `exit()`.
    ExitCompleted {
        result: Value,
    },
    /// `{errCode, errMsg}` of `update_mute_config()`.
    UpdateMuteConfigCompleted {
        result: Value,
    },
    /// `{errCode, errMsg}` of `subscribe_video_members()`.
    SubscribeVideoMembersCompleted {
        result: Value,
    },
    MembersChanged {
        open_id_list: Vec<String>,
    },
    SpeakersChanged {
        open_id_list: Vec<String>,
    },
    /// Video room: the members publishing video.
    VideoMembersChanged {
        open_id_list: Vec<String>,
    },
    Interrupted {
        err_code: i64,
        err_msg: String,
    },
    StateChanged {
        code: i64,
        data: Value,
    },
}

/// WeChat's result: `errCode` 0 and `errMsg` "<api>:ok", or the code and "<api>:fail <reason>".
fn result_dict(api: &str, outcome: &Result<(), &VoipError>) -> Value {
    match outcome {
        Ok(()) => Value::dict([
            ("errCode", Value::Int(0)),
            ("errMsg", Value::String(format!("{api}:ok"))),
        ]),
        Err(e) => Value::dict([
            ("errCode", Value::Int(i64::from(e.code.as_i32()))),
            ("errMsg", Value::String(fail_message(api, e))),
        ]),
    }
}

fn fail_message(api: &str, e: &VoipError) -> String {
    format!("{api}:fail {}", e.reason)
}

/// The signals a message raises, in the order they are emitted.
pub fn emissions(message: Message) -> Vec<Emission> {
    match message {
        Message::Join(Ok(open_id_list)) => {
            let mut result = result_dict("joinVoIPChat", &Ok(()));
            if let Value::Dict(map) = &mut result {
                map.insert("openIdList".into(), Value::strings(&open_id_list));
            }
            vec![
                Emission::JoinSucceeded { open_id_list },
                Emission::JoinCompleted { result },
            ]
        }
        Message::Join(Err(e)) => vec![
            Emission::JoinFailed {
                err_code: i64::from(e.code.as_i32()),
                err_msg: fail_message("joinVoIPChat", &e),
            },
            Emission::JoinCompleted {
                result: result_dict("joinVoIPChat", &Err(&e)),
            },
        ],
        Message::Exit(outcome) => vec![Emission::ExitCompleted {
            result: result_dict("exitVoIPChat", &outcome.as_ref().map(|_| ())),
        }],
        Message::UpdateMute(outcome) => vec![Emission::UpdateMuteConfigCompleted {
            result: result_dict("updateVoIPChatMuteConfig", &outcome.as_ref().map(|_| ())),
        }],
        Message::SubscribeVideo(outcome) => vec![Emission::SubscribeVideoMembersCompleted {
            result: result_dict("subscribeVoIPVideoMembers", &outcome.as_ref().map(|_| ())),
        }],
        Message::Event(Event::MembersChanged(open_id_list)) => {
            vec![Emission::MembersChanged { open_id_list }]
        }
        Message::Event(Event::SpeakersChanged(open_id_list)) => {
            vec![Emission::SpeakersChanged { open_id_list }]
        }
        Message::Event(Event::VideoMembersChanged(open_id_list)) => {
            vec![Emission::VideoMembersChanged { open_id_list }]
        }
        Message::Event(Event::Interrupted(e)) => vec![Emission::Interrupted {
            err_code: i64::from(e.code.as_i32()),
            err_msg: e.reason,
        }],
        Message::Event(Event::StateChanged { state, data_json }) => vec![Emission::StateChanged {
            code: state as i64,
            data: Value::from_json_text(&data_json),
        }],
    }
}

/// What the node remembers of the call, for `get_members()`, `get_speakers()`,
/// `get_video_members()`, `get_state()` and for starting and stopping the microphone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    pub state: ChatState,
    pub members: Vec<String>,
    pub speakers: Vec<String>,
    pub video_members: Vec<String>,
}

impl Default for CallView {
    fn default() -> Self {
        Self {
            state: ChatState::Idle,
            members: Vec::new(),
            speakers: Vec::new(),
            video_members: Vec::new(),
        }
    }
}

impl CallView {
    pub fn apply(&mut self, message: &Message) {
        match message {
            Message::Join(Ok(list)) => self.members = list.clone(),
            Message::Event(Event::MembersChanged(list)) => self.members = list.clone(),
            Message::Event(Event::SpeakersChanged(list)) => self.speakers = list.clone(),
            Message::Event(Event::VideoMembersChanged(list)) => self.video_members = list.clone(),
            Message::Event(Event::StateChanged { state, .. }) => {
                self.state = *state;
                if matches!(state, ChatState::Left | ChatState::Idle) {
                    self.members.clear();
                    self.speakers.clear();
                    self.video_members.clear();
                }
            }
            _ => {}
        }
    }

    /// Audio flows (the microphone is open, playback is fed) while this holds.
    pub fn in_call(&self) -> bool {
        matches!(self.state, ChatState::Joined | ChatState::Reconnecting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voipchat::ErrorCode;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_successful_join_emits_succeeded_then_completed_with_wechats_result() {
        let out = emissions(Message::Join(Ok(ids(&["alice", "bob"]))));
        assert_eq!(
            out,
            vec![
                Emission::JoinSucceeded {
                    open_id_list: ids(&["alice", "bob"])
                },
                Emission::JoinCompleted {
                    result: Value::dict([
                        ("errCode", Value::Int(0)),
                        ("errMsg", Value::String("joinVoIPChat:ok".into())),
                        ("openIdList", Value::strings(&ids(&["alice", "bob"]))),
                    ])
                },
            ]
        );
    }

    #[test]
    fn a_failed_join_emits_failed_then_completed_with_the_same_code() {
        let e = VoipError::new(ErrorCode::InvalidArgument, "groupId is required");
        let out = emissions(Message::Join(Err(e)));
        assert_eq!(
            out,
            vec![
                Emission::JoinFailed {
                    err_code: -1001,
                    err_msg: "joinVoIPChat:fail groupId is required".into()
                },
                Emission::JoinCompleted {
                    result: Value::dict([
                        ("errCode", Value::Int(-1001)),
                        (
                            "errMsg",
                            Value::String("joinVoIPChat:fail groupId is required".into())
                        ),
                    ])
                },
            ]
        );
    }

    #[test]
    fn exit_and_mute_results_use_their_api_names() {
        assert_eq!(
            emissions(Message::Exit(Ok(()))),
            vec![Emission::ExitCompleted {
                result: Value::dict([
                    ("errCode", Value::Int(0)),
                    ("errMsg", Value::String("exitVoIPChat:ok".into())),
                ])
            }]
        );
        let e = VoipError::new(ErrorCode::RoomTypeMismatch, "not a video room");
        assert_eq!(
            emissions(Message::SubscribeVideo(Err(e))),
            vec![Emission::SubscribeVideoMembersCompleted {
                result: Value::dict([
                    ("errCode", Value::Int(-1006)),
                    (
                        "errMsg",
                        Value::String("subscribeVoIPVideoMembers:fail not a video room".into())
                    ),
                ])
            }]
        );
        let e = VoipError::new(ErrorCode::NotInRoom, "not in a room");
        assert_eq!(
            emissions(Message::UpdateMute(Err(e))),
            vec![Emission::UpdateMuteConfigCompleted {
                result: Value::dict([
                    ("errCode", Value::Int(-1005)),
                    (
                        "errMsg",
                        Value::String("updateVoIPChatMuteConfig:fail not in a room".into())
                    ),
                ])
            }]
        );
    }

    #[test]
    fn events_become_their_signals() {
        assert_eq!(
            emissions(Message::Event(Event::MembersChanged(ids(&["a", "b"])))),
            vec![Emission::MembersChanged {
                open_id_list: ids(&["a", "b"])
            }]
        );
        assert_eq!(
            emissions(Message::Event(Event::SpeakersChanged(ids(&["b"])))),
            vec![Emission::SpeakersChanged {
                open_id_list: ids(&["b"])
            }]
        );
        assert_eq!(
            emissions(Message::Event(Event::VideoMembersChanged(ids(&["b", "a"])))),
            vec![Emission::VideoMembersChanged {
                open_id_list: ids(&["b", "a"])
            }]
        );
        let e = VoipError::new(ErrorCode::ServerShuttingDown, "the server is shutting down");
        assert_eq!(
            emissions(Message::Event(Event::Interrupted(e))),
            vec![Emission::Interrupted {
                err_code: -1009,
                err_msg: "the server is shutting down".into()
            }]
        );
        let data = r#"{"state":"left","groupId":"g","openId":"a","errCode":-1009,"errMsg":"bye"}"#;
        assert_eq!(
            emissions(Message::Event(Event::StateChanged {
                state: ChatState::Left,
                data_json: data.into()
            })),
            vec![Emission::StateChanged {
                code: 4,
                data: Value::dict([
                    ("state", Value::String("left".into())),
                    ("groupId", Value::String("g".into())),
                    ("openId", Value::String("a".into())),
                    ("errCode", Value::Int(-1009)),
                    ("errMsg", Value::String("bye".into())),
                ])
            }]
        );
    }

    #[test]
    fn the_call_view_follows_members_speakers_and_state() {
        let mut view = CallView::default();
        assert!(!view.in_call());
        let state = |state| {
            Message::Event(Event::StateChanged {
                state,
                data_json: "{}".into(),
            })
        };
        view.apply(&state(ChatState::Joining));
        assert!(!view.in_call());
        view.apply(&state(ChatState::Joined));
        view.apply(&Message::Join(Ok(ids(&["a"]))));
        assert!(view.in_call());
        assert_eq!(view.members, ids(&["a"]));
        view.apply(&Message::Event(Event::MembersChanged(ids(&["a", "b"]))));
        view.apply(&Message::Event(Event::SpeakersChanged(ids(&["b"]))));
        view.apply(&Message::Event(Event::VideoMembersChanged(ids(&["b"]))));
        assert_eq!(view.members, ids(&["a", "b"]));
        assert_eq!(view.speakers, ids(&["b"]));
        assert_eq!(view.video_members, ids(&["b"]));
        view.apply(&state(ChatState::Reconnecting));
        assert!(
            view.in_call(),
            "audio keeps flowing while the seat is resumed"
        );
        view.apply(&state(ChatState::Left));
        assert!(!view.in_call());
        assert!(view.members.is_empty() && view.speakers.is_empty());
        assert!(view.video_members.is_empty());
    }
}
