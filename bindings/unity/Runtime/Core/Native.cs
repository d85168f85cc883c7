// The raw C ABI of include/voipchat.h, one declaration per function, struct, callback type and
// #define. Names and field order are the header's own (snake_case on purpose), so
// Tests~/check_pinvoke.py can compare the two and fail the test when they drift.
//
// Marshalling rules kept here (and checked by the test):
//   - Every struct is [StructLayout(LayoutKind.Sequential)]. Strings and function pointers inside
//     structs are IntPtr, so the structs stay blittable (except VoipMuteConfig's two bools).
//   - `bool` is one byte: [MarshalAs(UnmanagedType.I1)].
//   - `const char *` parameters are NUL-terminated UTF-8 byte[] (see Utf8.cs) or IntPtr; never
//     `string`, whose default marshalling is not UTF-8 on every platform.
//   - `size_t` is UIntPtr; `void *` and every other pointer is IntPtr.
//   - Callback types are [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegates. The
//     delegates handed to native code are static fields (never collected) whose targets are
//     static methods marked [MonoPInvokeCallback] (IL2CPP needs both).
using System;
using System.Runtime.InteropServices;

namespace VoipChatSdk.Interop
{
    /// <summary>
    /// P/Invoke declarations for <c>include/voipchat.h</c>. Use <see cref="VoipChat"/> instead
    /// unless you need the C ABI itself.
    /// </summary>
    public static class Native
    {
#if (UNITY_IOS || UNITY_TVOS || UNITY_WEBGL) && !UNITY_EDITOR
        /// <summary>iOS links the static library into the player: symbols are in the process.</summary>
        public const string Library = "__Internal";
#else
        /// <summary>libvoipchat.so / voipchat.dll / libvoipchat.dylib.</summary>
        public const string Library = "voipchat";
#endif

        // ---- #defines -------------------------------------------------------------------

        public const int VOIP_OK = 0;
        public const int VOIP_ERR_ALREADY_IN_ROOM = -1;
        public const int VOIP_ERR_DEVICE_BUSY = -2;
        public const int VOIP_ERR_LEFT_WHILE_JOINING = -3;
        public const int VOIP_ERR_SYSTEM = -1000;
        public const int VOIP_ERR_INVALID_ARGUMENT = -1001;
        public const int VOIP_ERR_SIGNATURE_REJECTED = -1002;
        public const int VOIP_ERR_ROOM_FULL = -1003;
        public const int VOIP_ERR_SERVER_UNREACHABLE = -1004;
        public const int VOIP_ERR_NOT_IN_ROOM = -1005;
        public const int VOIP_ERR_ROOM_TYPE_MISMATCH = -1006;
        public const int VOIP_ERR_CERTIFICATE_REJECTED = -1007;
        public const int VOIP_ERR_SESSION_REPLACED = -1008;
        public const int VOIP_ERR_SERVER_SHUTTING_DOWN = -1009;
        public const int VOIP_ERR_ROOM_ELSEWHERE = -1010;
        public const int VOIP_ERR_NODE_LOST = -1011;
        public const int VOIP_ERR_DIRECTORY_UNAVAILABLE = -1012;

        public const int VOIP_SESSION_KEY_BUFFER = 45;
        public const int VOIP_SIGNATURE_BUFFER = 65;

        public const int VOIP_ROOM_VOICE = 0;
        public const int VOIP_ROOM_VIDEO = 1;
        public const int VOIP_DISPATCH_THREAD = 0;
        public const int VOIP_DISPATCH_POLL = 1;
        public const int VOIP_AUDIO_DEVICE = 0;
        public const int VOIP_AUDIO_EXTERNAL = 1;
        public const int VOIP_STATE_IDLE = 0;
        public const int VOIP_STATE_JOINING = 1;
        public const int VOIP_STATE_JOINED = 2;
        public const int VOIP_STATE_RECONNECTING = 3;
        public const int VOIP_STATE_LEFT = 4;
        public const int VOIP_LOG_ERROR = 0;
        public const int VOIP_LOG_WARN = 1;
        public const int VOIP_LOG_INFO = 2;
        public const int VOIP_LOG_DEBUG = 3;
        public const int VOIP_ENHANCEMENT_OFF = 0;
        public const int VOIP_ENHANCEMENT_LIGHT = 1;
        public const int VOIP_ENHANCEMENT_STRONG = 2;
        public const int VOIP_NOISE_SUPPRESSION_OFF = 0;
        public const int VOIP_NOISE_SUPPRESSION_LOW = 1;
        public const int VOIP_NOISE_SUPPRESSION_MODERATE = 2;
        public const int VOIP_NOISE_SUPPRESSION_HIGH = 3;
        public const int VOIP_NOISE_SUPPRESSION_VERY_HIGH = 4;
        public const int VOIP_PIXEL_RGBA = 0;
        public const int VOIP_PIXEL_I420 = 1;

        // ---- callback types -------------------------------------------------------------

        /// <summary><c>VoipLogFn</c>: (VoipLogLevel level, const char *message, void *user_data).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void VoipLogFn(int level, IntPtr message, IntPtr user_data);

        /// <summary><c>VoipResultFn</c>: (const VoipResult *result, void *user_data).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void VoipResultFn(IntPtr result, IntPtr user_data);

        /// <summary><c>VoipStateFn</c>: (VoipState code, const char *data_json, void *user_data).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void VoipStateFn(int code, IntPtr data_json, IntPtr user_data);

        /// <summary>
        /// <c>VoipVideoFrameFn</c>: (const char *open_id, const VoipVideoFrame *frame, void *user_data).
        /// <c>frame</c> is I420; it and its planes are valid only during the call.
        /// </summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void VoipVideoFrameFn(IntPtr open_id, IntPtr frame, IntPtr user_data);

        // ---- structs --------------------------------------------------------------------

        [StructLayout(LayoutKind.Sequential)]
        public struct VoipConfig
        {
            public IntPtr server;               // const char *
            public IntPtr server_cert_sha256;   // const char *
            public int dispatch;                // VoipDispatch
            public int audio_mode;              // VoipAudioMode
            public IntPtr input_device;         // const char *
            public IntPtr output_device;        // const char *
            public uint frame_ms;
            public IntPtr log;                  // VoipLogFn
            public IntPtr log_user_data;        // void *
            public uint connect_timeout_ms;
            public uint resume_timeout_ms;
            public uint idle_timeout_ms;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct VoipMuteConfig
        {
            [MarshalAs(UnmanagedType.I1)] public bool mute_microphone;
            [MarshalAs(UnmanagedType.I1)] public bool mute_earphone;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct VoipJoinParams
        {
            public IntPtr app_id;       // const char *
            public IntPtr open_id;      // const char *
            public IntPtr group_id;     // const char *
            public IntPtr nonce_str;    // const char *
            public long time_stamp;     // int64_t
            public IntPtr signature;    // const char *
            public int room_type;       // VoipRoomType
            public IntPtr mute_config;  // const VoipMuteConfig *
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct VoipResult
        {
            public int err_code;
            public IntPtr err_msg;          // const char *
            public IntPtr open_id_list;     // const char *const *
            public UIntPtr open_id_count;   // size_t
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct VoipCallbacks
        {
            public IntPtr success;  // VoipResultFn
            public IntPtr fail;     // VoipResultFn
            public IntPtr complete; // VoipResultFn
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct VoipApp
        {
            public IntPtr app_id;       // const char *
            public IntPtr app_secret;   // const char *
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct VoipServerConfig
        {
            public IntPtr listen;               // const char *
            public IntPtr apps;                 // const VoipApp *
            public UIntPtr app_count;           // size_t
            public uint max_members;
            public uint timestamp_window_s;
            public IntPtr cert_pem_path;        // const char *
            public IntPtr key_pem_path;         // const char *
            public IntPtr log;                  // VoipLogFn
            public IntPtr log_user_data;        // void *
        }

        /// <summary>
        /// <c>VoipVideoFrame</c>. The header's arrays <c>uint8_t *planes[3]</c> and
        /// <c>uint32_t strides[3]</c> are three fields each, so the struct stays blittable (a
        /// ByValArray of IntPtr would not be) and is passed by <c>ref</c> without a copy. On
        /// 64-bit targets: format 0, width 4, height 8, planes 16/24/32, strides 40/44/48,
        /// sequence 56, size 64 (the test compares every offset with the C compiler's).
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct VoipVideoFrame
        {
            public int format;          // VoipPixelFormat
            public uint width;
            public uint height;
            public IntPtr planes0;      // uint8_t *planes[3]
            public IntPtr planes1;
            public IntPtr planes2;
            public uint strides0;       // uint32_t strides[3]
            public uint strides1;
            public uint strides2;
            public ulong sequence;
        }

        // ---- functions ------------------------------------------------------------------

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr voip_last_error_message();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr voip_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_audio_push_capture([In] float[] samples, UIntPtr frames, uint sample_rate, ushort channels);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern UIntPtr voip_audio_pull_playback([Out] float[] @out, UIntPtr frames, uint sample_rate, ushort channels);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern UIntPtr voip_audio_pull_member([In] byte[] open_id, [Out] float[] @out, UIntPtr frames, uint sample_rate, ushort channels);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_audio_devices_json([Out] byte[] @out, UIntPtr out_len, out UIntPtr needed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_stats_json([Out] byte[] @out, UIntPtr out_len, out UIntPtr needed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern VoipConfig voip_config_default();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_init(ref VoipConfig config);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void voip_shutdown();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint voip_poll();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_state();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_join(ref VoipJoinParams @params, VoipCallbacks callbacks, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_exit(VoipCallbacks callbacks, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_update_mute_config(ref VoipMuteConfig mute_config, VoipCallbacks callbacks, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_set_voice_enhancement(int level);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_set_audio_processing(int echo_cancellation, int noise_suppression, int gain_control);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_on_members_changed(IntPtr listener, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_on_speakers_changed(IntPtr listener, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_on_video_members_changed(IntPtr listener, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_on_interrupted(IntPtr listener, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_on_state_changed(IntPtr listener, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern VoipServerConfig voip_server_config_default();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr voip_server_start(ref VoipServerConfig config);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern ushort voip_server_port(IntPtr server);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr voip_server_cert_sha256(IntPtr server);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void voip_server_stop(IntPtr server);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_session_key([In] byte[] app_secret, [In] byte[] open_id, [Out] byte[] @out, UIntPtr out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_sign([In] byte[] session_key, [In] byte[] app_id, [In] byte[] group_id, [In] byte[] nonce_str, long time_stamp, [Out] byte[] @out, UIntPtr out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_video_push_frame(ref VoipVideoFrame frame);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_video_pull_frame([In] byte[] open_id, ref VoipVideoFrame @out);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_subscribe_video_members(IntPtr open_ids, UIntPtr count, VoipCallbacks callbacks, IntPtr user_data);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int voip_on_video_frame(IntPtr listener, IntPtr user_data);
    }
}
