// The public types of the C# API: plain C#, no UnityEngine, so they compile under Mono too.
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using VoipChatSdk.Interop;

namespace VoipChatSdk
{
    /// <summary>WeChat's <c>roomType</c>. The first joiner fixes a room's type.</summary>
    public enum RoomType
    {
        Voice = Native.VOIP_ROOM_VOICE,
        Video = Native.VOIP_ROOM_VIDEO,
    }

    /// <summary>Who owns the audio devices.</summary>
    public enum AudioMode
    {
        /// <summary>The SDK opens the system's microphone and speakers itself.</summary>
        Device = Native.VOIP_AUDIO_DEVICE,

        /// <summary>
        /// The engine feeds and plays the audio (<see cref="VoipChat.PushCapture"/>,
        /// <see cref="VoipChat.PullPlayback"/>, <see cref="VoipChat.PullMember(MemberVoiceId,float[],int,int,int)"/>):
        /// what the package's Unity audio components do.
        /// </summary>
        External = Native.VOIP_AUDIO_EXTERNAL,
    }

    /// <summary>The call's state, as <see cref="VoipChat.StateChanged"/> reports it.</summary>
    public enum VoipChatState
    {
        Idle = Native.VOIP_STATE_IDLE,
        Joining = Native.VOIP_STATE_JOINING,
        Joined = Native.VOIP_STATE_JOINED,
        Reconnecting = Native.VOIP_STATE_RECONNECTING,
        Left = Native.VOIP_STATE_LEFT,
    }

    /// <summary>Severity of the SDK's log lines.</summary>
    public enum LogLevel
    {
        Error = Native.VOIP_LOG_ERROR,
        Warn = Native.VOIP_LOG_WARN,
        Info = Native.VOIP_LOG_INFO,
        Debug = Native.VOIP_LOG_DEBUG,
    }

    /// <summary>
    /// A speech enhancer over every remote member's voice (<see cref="VoipChat.SetVoiceEnhancement"/>):
    /// clearer speech on clean and lossy links alike, for CPU on every frame of every remote
    /// speaker. Meant for one-to-one calls and small squads; costs in the package README.
    /// </summary>
    public enum VoiceEnhancement
    {
        /// <summary>The default: no enhancer (lost frames are still concealed by deep PLC).</summary>
        Off = Native.VOIP_ENHANCEMENT_OFF,

        /// <summary>LACE, the small enhancer.</summary>
        Light = Native.VOIP_ENHANCEMENT_LIGHT,

        /// <summary>NoLACE, the larger one: the clearest speech, the most CPU.</summary>
        Strong = Native.VOIP_ENHANCEMENT_STRONG,
    }

    /// <summary>How far down the noise suppressor may take the microphone's noise (<see cref="AudioProcessing"/>).</summary>
    public enum NoiseSuppression
    {
        Off = Native.VOIP_NOISE_SUPPRESSION_OFF,

        /// <summary>Up to 6 dB.</summary>
        Low = Native.VOIP_NOISE_SUPPRESSION_LOW,

        /// <summary>Up to 12 dB: the default.</summary>
        Moderate = Native.VOIP_NOISE_SUPPRESSION_MODERATE,

        /// <summary>Up to 18 dB.</summary>
        High = Native.VOIP_NOISE_SUPPRESSION_HIGH,

        /// <summary>Up to 21 dB: cleans the most, colours the voice the most.</summary>
        VeryHigh = Native.VOIP_NOISE_SUPPRESSION_VERY_HIGH,
    }

    /// <summary>
    /// The microphone's processing before it is sent (<see cref="VoipChat.SetAudioProcessing"/>):
    /// echo cancellation (what the speakers play, the mix and members pulled alone, is removed
    /// from the microphone), noise suppression and automatic gain control; a 40 Hz rumble filter
    /// runs whenever any of them does. All on by default, as every voice chat ships them.
    /// </summary>
    public sealed class AudioProcessing
    {
        public bool EchoCancellation = true;
        public NoiseSuppression NoiseSuppression = NoiseSuppression.Moderate;
        public bool GainControl = true;
    }

    /// <summary>The <c>errCode</c> values (WeChat's, then voipchat's).</summary>
    public static class ErrorCodes
    {
        public const int Ok = Native.VOIP_OK;
        /// <summary>Already in a room, or joining one.</summary>
        public const int AlreadyInRoom = Native.VOIP_ERR_ALREADY_IN_ROOM;
        /// <summary>The recording device is occupied or cannot be opened.</summary>
        public const int DeviceBusy = Native.VOIP_ERR_DEVICE_BUSY;
        /// <summary>Left while joining: exit was called, or the connection lost, before admission.</summary>
        public const int LeftWhileJoining = Native.VOIP_ERR_LEFT_WHILE_JOINING;
        /// <summary>System error, including a caught panic.</summary>
        public const int System = Native.VOIP_ERR_SYSTEM;
        /// <summary>Invalid argument: null, a missing or over-long field, or not initialized.</summary>
        public const int InvalidArgument = Native.VOIP_ERR_INVALID_ARGUMENT;
        /// <summary>Signature rejected: wrong signature, unknown app, stale timestamp, reused nonce.</summary>
        public const int SignatureRejected = Native.VOIP_ERR_SIGNATURE_REJECTED;
        public const int RoomFull = Native.VOIP_ERR_ROOM_FULL;
        /// <summary>The server is unreachable, did not answer in time, or the connection was lost.</summary>
        public const int ServerUnreachable = Native.VOIP_ERR_SERVER_UNREACHABLE;
        public const int NotInRoom = Native.VOIP_ERR_NOT_IN_ROOM;
        public const int RoomTypeMismatch = Native.VOIP_ERR_ROOM_TYPE_MISMATCH;
        public const int CertificateRejected = Native.VOIP_ERR_CERTIFICATE_REJECTED;
        /// <summary>Interrupted: the same openId joined from another session.</summary>
        public const int SessionReplaced = Native.VOIP_ERR_SESSION_REPLACED;
        /// <summary>Interrupted: the server is shutting down.</summary>
        public const int ServerShuttingDown = Native.VOIP_ERR_SERVER_SHUTTING_DOWN;
        /// <summary>Join refused: the cluster directory assigns the room to another relay (or this one is draining). Ask the backend to place it again.</summary>
        public const int RoomElsewhere = Native.VOIP_ERR_ROOM_ELSEWHERE;
        /// <summary>Interrupted: the relay node was lost. Rejoin through the backend, which places the room on a live node.</summary>
        public const int NodeLost = Native.VOIP_ERR_NODE_LOST;
        /// <summary>The cluster directory (Redis) is unreachable; retry once it is back.</summary>
        public const int DirectoryUnavailable = Native.VOIP_ERR_DIRECTORY_UNAVAILABLE;
    }

    /// <summary>WeChat's <c>muteConfig</c>.</summary>
    [Serializable]
    public struct MuteConfig
    {
        public bool MuteMicrophone;
        public bool MuteEarphone;

        public MuteConfig(bool muteMicrophone, bool muteEarphone)
        {
            MuteMicrophone = muteMicrophone;
            MuteEarphone = muteEarphone;
        }

        internal Native.VoipMuteConfig ToNative()
        {
            return new Native.VoipMuteConfig { mute_microphone = MuteMicrophone, mute_earphone = MuteEarphone };
        }

        public override string ToString()
        {
            return "{muteMicrophone: " + MuteMicrophone + ", muteEarphone: " + MuteEarphone + "}";
        }
    }

    /// <summary>
    /// WeChat's <c>joinVoIPChat</c> parameters. <see cref="OpenId"/>, <see cref="NonceStr"/>,
    /// <see cref="TimeStamp"/> and <see cref="Signature"/> come from your game backend, which signs
    /// the join with the app secret (see the package README, "How a game backend signs").
    /// </summary>
    [Serializable]
    public sealed class JoinOptions
    {
        public string AppId;
        public string OpenId;
        public string GroupId;
        /// <summary>Shorter than 128 characters; used once.</summary>
        public string NonceStr;
        /// <summary>Unix seconds.</summary>
        public long TimeStamp;
        /// <summary>Lowercase hex HMAC-SHA256.</summary>
        public string Signature;
        public RoomType RoomType = RoomType.Voice;
        /// <summary>null = neither muted.</summary>
        public MuteConfig? MuteConfig;
    }

    /// <summary>
    /// A call's result or an event's payload: WeChat's <c>errCode</c>, <c>errMsg</c> and
    /// <c>openIdList</c>, copied out of the native callback.
    /// </summary>
    public class VoipChatResult
    {
        static readonly IReadOnlyList<string> Empty = new ReadOnlyCollection<string>(new string[0]);

        public VoipChatResult(int errCode, string errMsg, IList<string> openIdList)
        {
            ErrCode = errCode;
            ErrMsg = errMsg ?? string.Empty;
            OpenIdList = openIdList == null || openIdList.Count == 0
                ? Empty
                : new ReadOnlyCollection<string>(new List<string>(openIdList));
        }

        /// <summary>0 on success, else one of <see cref="ErrorCodes"/>.</summary>
        public int ErrCode { get; private set; }

        /// <summary><c>joinVoIPChat:ok</c>, <c>joinVoIPChat:fail &lt;reason&gt;</c>, and so on.</summary>
        public string ErrMsg { get; private set; }

        /// <summary>Members (a join, members-changed) or speakers (speakers-changed); else empty.</summary>
        public IReadOnlyList<string> OpenIdList { get; private set; }

        public bool IsOk
        {
            get { return ErrCode == ErrorCodes.Ok; }
        }

        public override string ToString()
        {
            return "{errCode: " + ErrCode + ", errMsg: \"" + ErrMsg + "\", openIdList: [" + string.Join(", ", new List<string>(OpenIdList).ToArray()) + "]}";
        }
    }

    /// <summary>The result of <see cref="VoipChat.JoinAsync"/>: <c>OpenIdList</c> holds the room's members, the joiner included.</summary>
    public sealed class JoinResult : VoipChatResult
    {
        public JoinResult(int errCode, string errMsg, IList<string> openIdList)
            : base(errCode, errMsg, openIdList)
        {
        }
    }

    /// <summary>A failed call, as the promise-style API reports it.</summary>
    public sealed class VoipChatException : Exception
    {
        public VoipChatException(VoipChatResult result)
            : base(result.ErrMsg + " (errCode " + result.ErrCode + ")")
        {
            ErrCode = result.ErrCode;
            ErrMsg = result.ErrMsg;
            Result = result;
        }

        public VoipChatException(int errCode, string errMsg)
            : this(new VoipChatResult(errCode, errMsg, null))
        {
        }

        /// <summary>One of <see cref="ErrorCodes"/>.</summary>
        public int ErrCode { get; private set; }

        /// <summary>WeChat-style message, e.g. <c>joinVoIPChat:fail signature rejected</c>.</summary>
        public string ErrMsg { get; private set; }

        /// <summary>The whole result the library reported.</summary>
        public VoipChatResult Result { get; private set; }
    }

    /// <summary>Process-wide settings for <see cref="VoipChat.Initialize"/>.</summary>
    [Serializable]
    public sealed class VoipChatConfig
    {
        /// <summary>"host:port" of the relay.</summary>
        public string Server;

        /// <summary>Lowercase hex SHA-256 of the relay's certificate to pin; null = the system's roots.</summary>
        public string ServerCertSha256;

        /// <summary>
        /// External (the default here): the package's Unity components move the audio through the
        /// engine. Device: the SDK opens the system's devices itself and no audio component is needed.
        /// </summary>
        public AudioMode AudioMode = AudioMode.External;

        /// <summary>Device mode only: capture device name; null = system default.</summary>
        public string InputDevice;

        /// <summary>Device mode only: playback device name; null = system default.</summary>
        public string OutputDevice;

        /// <summary>10 or 20 ms; 0 = the library's default (20).</summary>
        public int FrameMs;

        /// <summary>Handshake plus the server's answer to a join; 0 = default (5000).</summary>
        public int ConnectTimeoutMs;

        /// <summary>After a lost connection, how long to try resuming; 0 = default (10000).</summary>
        public int ResumeTimeoutMs;

        /// <summary>Silence after which the connection counts as lost; 0 = default (6000), else at least 500. Shorten it (with ResumeTimeoutMs) when running several relays, so a dead node's members learn it sooner (-1011).</summary>
        public int IdleTimeoutMs;

        /// <summary>Log lines below this level are dropped before they reach <see cref="VoipChat.Log"/>.</summary>
        public LogLevel LogLevel = LogLevel.Info;
    }
}
