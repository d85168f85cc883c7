//! Whose video a member of a video room receives (WeChat's `subscribeVoIPVideoMembers`): the
//! publishers it subscribed to, or, until it subscribes, the first two members to publish
//! (other than itself). The relay forwards each video piece only to the members whose list
//! holds its sender, so a member pays bandwidth only for the pictures it shows.

/// How many publishers a member that never subscribed receives, in publishing order.
pub const DEFAULT_VIDEO_MEMBERS: usize = 2;

/// The sources `me` receives video from. `publishers` are (source, open id) in the order they
/// started publishing; `subscription` the open ids `me` asked for, if it ever asked.
pub fn video_sources_for(
    me: u32,
    subscription: Option<&[String]>,
    publishers: &[(u32, &str)],
) -> Vec<u32> {
    let others = publishers.iter().filter(|(source, _)| *source != me);
    match subscription {
        Some(wanted) => others
            .filter(|(_, open_id)| wanted.iter().any(|w| w == open_id))
            .map(|(source, _)| *source)
            .collect(),
        None => others
            .take(DEFAULT_VIDEO_MEMBERS)
            .map(|(source, _)| *source)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISHERS: [(u32, &str); 4] = [(1, "a"), (2, "b"), (3, "c"), (4, "d")];

    #[test]
    fn without_a_subscription_a_member_receives_the_first_two_other_publishers() {
        assert_eq!(video_sources_for(9, None, &PUBLISHERS), vec![1, 2]);
        assert_eq!(
            video_sources_for(1, None, &PUBLISHERS),
            vec![2, 3],
            "not itself"
        );
        assert_eq!(video_sources_for(9, None, &PUBLISHERS[..1]), vec![1]);
        assert!(video_sources_for(9, None, &[]).is_empty());
    }

    #[test]
    fn a_subscription_picks_publishers_by_open_id_and_may_pick_none() {
        let wanted = ["d".to_string(), "b".to_string(), "nobody".to_string()];
        assert_eq!(video_sources_for(9, Some(&wanted), &PUBLISHERS), vec![2, 4]);
        assert!(video_sources_for(9, Some(&[]), &PUBLISHERS).is_empty());
        let me = ["a".to_string()];
        assert!(video_sources_for(1, Some(&me), &PUBLISHERS).is_empty());
    }
}
