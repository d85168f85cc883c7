//! Video in a video room, without the engine: an `Image`'s RGBA8 bytes into a picture the SDK
//! sends, and each member the game shows kept as RGBA8 bytes that change only when the
//! member's picture does, so `node.rs` uploads a texture only then.
//!
//! Godot's images are top row first, as the SDK's pictures are: nothing is turned over.

use voipchat::{ErrorCode, Picture, ReceivedFrame, VoipError};

/// An RGBA8 image's bytes (`width * 4` a row, top row first; mipmaps after them are ignored)
/// as a picture to push. Every problem is a -1001 whose message says what is wrong.
pub fn picture_from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Picture, VoipError> {
    Picture::from_rgba(width, height, width as usize * 4, rgba)
        .map_err(|e| VoipError::new(ErrorCode::InvalidArgument, format!("push_video_frame: {e}")))
}

/// One member's latest picture as the game sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberVideo {
    /// The picture's number (0: none yet); each decoded picture numbers one more.
    pub sequence: u64,
    pub width: u32,
    pub height: u32,
    /// `width * height * 4` bytes, RGBA8, top row first (what `Image::create_from_data`
    /// takes); one buffer, reused while the size stays.
    pub rgba: Vec<u8>,
}

impl MemberVideo {
    /// Takes `latest` when it is another picture than the one held: true when it did (then
    /// upload it). A sequence that differs counts, not only a larger one: a member who
    /// rejoins numbers its pictures from 1 again.
    pub fn take(&mut self, latest: Option<ReceivedFrame>) -> bool {
        let Some(frame) = latest else {
            return false;
        };
        if frame.sequence == self.sequence {
            return false;
        }
        self.sequence = frame.sequence;
        self.width = frame.picture.width();
        self.height = frame.picture.height();
        frame.picture.to_rgba(&mut self.rgba);
        true
    }
}

/// The members whose video the game shows, in the order it asked for them.
#[derive(Debug, Default)]
pub struct WatchedVideo {
    members: Vec<(String, MemberVideo)>,
}

impl WatchedVideo {
    /// Starts watching `open_id` (no-op when already watched).
    pub fn watch(&mut self, open_id: &str) {
        if self.get(open_id).is_none() {
            self.members
                .push((open_id.to_owned(), MemberVideo::default()));
        }
    }

    pub fn unwatch(&mut self, open_id: &str) {
        self.members.retain(|(id, _)| id != open_id);
    }

    pub fn get(&self, open_id: &str) -> Option<&MemberVideo> {
        self.members
            .iter()
            .find(|(id, _)| id == open_id)
            .map(|(_, video)| video)
    }

    /// Asks `latest` for each watched member's picture; returns the members whose picture
    /// changed, with it.
    pub fn refresh(
        &mut self,
        mut latest: impl FnMut(&str) -> Option<ReceivedFrame>,
    ) -> Vec<(&str, &MemberVideo)> {
        let mut changed = Vec::new();
        for (open_id, video) in self.members.iter_mut() {
            if video.take(latest(open_id)) {
                changed.push((open_id.as_str(), &*video));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, rgb: [u8; 3]) -> Picture {
        let rgba: Vec<u8> = (0..width * height)
            .flat_map(|_| [rgb[0], rgb[1], rgb[2], 255])
            .collect();
        picture_from_rgba(width, height, &rgba).unwrap()
    }

    fn frame(sequence: u64, picture: &Picture) -> Option<ReceivedFrame> {
        Some(ReceivedFrame {
            sequence,
            picture: picture.clone(),
        })
    }

    #[test]
    fn bad_images_are_1001_with_the_reason() {
        let short = picture_from_rgba(4, 4, &[0; 4 * 4 * 4 - 1]).unwrap_err();
        assert_eq!(short.code, ErrorCode::InvalidArgument);
        assert!(short.reason.starts_with("push_video_frame: "), "{short:?}");
        for (w, h) in [(0, 4), (4, 0), (4000, 2)] {
            let e = picture_from_rgba(w, h, &vec![0; (w * h * 4) as usize]).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{w}x{h}");
        }
        // Mipmaps after the first level (Image::get_data holds them) are ignored.
        assert!(picture_from_rgba(4, 4, &[0; 4 * 4 * 4 + 4 * 4 + 4]).is_ok());
    }

    #[test]
    fn a_picture_is_taken_only_when_its_sequence_changes() {
        let red = solid(8, 4, [220, 20, 20]);
        let mut video = MemberVideo::default();
        assert!(!video.take(None), "nothing yet");
        assert!(video.take(frame(1, &red)));
        assert_eq!((video.sequence, video.width, video.height), (1, 8, 4));
        assert_eq!(video.rgba.len(), 8 * 4 * 4);
        assert!(
            video.rgba[0] > 150 && video.rgba[2] < 100,
            "red: {:?}",
            &video.rgba[..4]
        );
        let buffer = video.rgba.as_ptr();
        assert!(!video.take(frame(1, &red)), "the same picture again");
        assert!(video.take(frame(2, &red)));
        assert_eq!(video.rgba.as_ptr(), buffer, "the buffer is reused");
        // A rejoined member numbers from 1 again: still a new picture.
        assert!(video.take(frame(1, &solid(4, 2, [20, 20, 220]))));
        assert_eq!((video.width, video.height, video.rgba.len()), (4, 2, 32));
    }

    #[test]
    fn refresh_reports_only_the_members_whose_picture_changed() {
        let picture = solid(4, 4, [128, 128, 128]);
        let mut watched = WatchedVideo::default();
        watched.watch("alice");
        watched.watch("bob");
        watched.watch("alice");
        let latest = |sequences: [u64; 2]| {
            let picture = picture.clone();
            move |id: &str| {
                let sequence = if id == "alice" {
                    sequences[0]
                } else {
                    sequences[1]
                };
                (sequence > 0).then(|| ReceivedFrame {
                    sequence,
                    picture: picture.clone(),
                })
            }
        };
        let ids = |changed: Vec<(&str, &MemberVideo)>| -> Vec<String> {
            changed.into_iter().map(|(id, _)| id.to_owned()).collect()
        };
        assert_eq!(ids(watched.refresh(latest([1, 0]))), vec!["alice"]);
        assert_eq!(ids(watched.refresh(latest([1, 3]))), vec!["bob"]);
        assert!(watched.refresh(latest([1, 3])).is_empty());
        assert_eq!(ids(watched.refresh(latest([2, 4]))), vec!["alice", "bob"]);
        watched.unwatch("alice");
        assert!(watched.get("alice").is_none());
        assert_eq!(watched.get("bob").map(|v| v.sequence), Some(4));
    }
}
