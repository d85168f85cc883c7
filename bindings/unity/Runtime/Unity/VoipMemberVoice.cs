#if UNITY_5_3_OR_NEWER
using UnityEngine;

namespace VoipChatSdk.Unity
{
    /// <summary>
    /// One member's voice on this GameObject's AudioSource, 3D by default, so Unity places it
    /// at the member's avatar (distance attenuation, panning, your spatialiser plugin). While
    /// it plays, the member is left out of <see cref="VoipPlayback"/>'s mix (and returns to the
    /// mix about a second after this component stops). Needs External audio mode.
    /// </summary>
    [AddComponentMenu("VoipChat/Voip Member Voice (3D)")]
    [RequireComponent(typeof(AudioSource))]
    public sealed class VoipMemberVoice : VoipAudioSourceFeed
    {
        [Tooltip("The member's openId, as it appears in the members list.")]
        [SerializeField]
        string openId;

        volatile MemberVoiceId member;

        /// <summary>Whose voice this source plays; null or empty for silence.</summary>
        public string OpenId
        {
            get { return openId; }
            set
            {
                openId = value;
                member = string.IsNullOrEmpty(value) ? null : new MemberVoiceId(value);
            }
        }

        protected override float DefaultSpatialBlend
        {
            get { return 1f; }
        }

        protected override void OnEnable()
        {
            OpenId = openId; // the serialized value, encoded once for the audio thread
            base.OnEnable();
        }

        void OnValidate()
        {
            OpenId = openId;
        }

        protected override int PullChannels(int outputChannels)
        {
            return 1; // one voice; Unity pans it across the output's channels
        }

        void OnAudioFilterRead(float[] data, int channels)
        {
            Feed(data, channels);
        }

        protected override bool Pull(float[] output, int frames, int sampleRate, int channels)
        {
            MemberVoiceId who = member;
            return who != null && VoipChat.PullMember(who, output, frames, sampleRate, channels) == frames;
        }
    }
}
#endif
