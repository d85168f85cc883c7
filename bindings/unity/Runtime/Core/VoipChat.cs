// The C# API over the C ABI. Plain C# (no UnityEngine), so the tests compile and run it under
// Mono; Runtime/Unity/ adds the engine side (the per-frame poll, lifecycle, audio components).
//
// Threading model. The library runs in POLL dispatch: it queues every callback until
// voip_poll() runs it on the caller's thread. The static callbacks below (the only code native
// code ever calls) do nothing but copy the payload into managed objects and queue the
// user-visible work; VoipChat.Poll() runs that work right after voip_poll() returns, outside any
// native frame. So every event, callback, Task result and log line reaches user code on the
// thread that calls Poll() (in Unity, the main thread, from the player loop), an exception in
// user code never unwinds through native frames, and a teardown can drop queued work without
// running user code in a dying domain.
//
// Lifetime. The delegates native code holds are static readonly fields (never collected) over
// static methods marked [MonoPInvokeCallback]. Per-call state travels as a GCHandle in
// user_data, freed in the call's `complete` callback, which the library guarantees runs exactly
// once. Shutdown() unregisters the event listeners (which otherwise outlive voip_shutdown in the
// library), so nothing in the native library points into a domain that is about to unload.
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using AOT;
using VoipChatSdk.Interop;

namespace VoipChatSdk
{
    /// <summary>
    /// A member's openId, encoded once for the audio thread: pulling a member's voice with it
    /// allocates nothing.
    /// </summary>
    public sealed class MemberVoiceId
    {
        public MemberVoiceId(string openId)
        {
            if (openId == null)
            {
                throw new ArgumentNullException("openId");
            }
            OpenId = openId;
            Utf8Bytes = Utf8.NulTerminated(openId);
        }

        public string OpenId { get; private set; }

        internal byte[] Utf8Bytes { get; private set; }
    }

    /// <summary>
    /// voipchat for C#: WeChat's <c>wx.joinVoIPChat</c> family with promise-style and
    /// callback-style calls and C# events, all delivered on the thread that calls <see cref="Poll"/>.
    /// </summary>
    public static partial class VoipChat
    {
        static readonly object Gate = new object();
        static readonly Queue<Action> Deliveries = new Queue<Action>();
        static readonly IReadOnlyList<string> NoOne = new ReadOnlyCollection<string>(new string[0]);

        static bool initialized;
        static bool listenersInstalled;
        static bool teardownHooked;
        static LogLevel logLevel = LogLevel.Info;
        static int pendingCalls;
        static IReadOnlyList<string> members = NoOne;
        static IReadOnlyList<string> speakers = NoOne;
        static IReadOnlyList<string> videoMembers = NoOne;

        // The delegates native code holds: static, so never collected while the domain lives.
        static readonly Native.VoipResultFn SuccessFn = OnSuccess;
        static readonly Native.VoipResultFn FailFn = OnFail;
        static readonly Native.VoipResultFn CompleteFn = OnComplete;
        static readonly Native.VoipResultFn MembersFn = OnMembersChanged;
        static readonly Native.VoipResultFn SpeakersFn = OnSpeakersChanged;
        static readonly Native.VoipResultFn VideoMembersFn = OnVideoMembersChanged;
        static readonly Native.VoipResultFn InterruptedFn = OnInterrupted;
        static readonly Native.VoipStateFn StateFn = OnStateChanged;
        static readonly Native.VoipLogFn LogFn = OnLog;
        static readonly Native.VoipVideoFrameFn VideoFrameFn = OnVideoFrame;

        // ---- events -----------------------------------------------------------------------

        /// <summary><c>onVoIPChatMembersChanged</c>: the full list of members still in the call.</summary>
        public static event Action<VoipChatResult> MembersChanged;

        /// <summary><c>onVoIPChatSpeakersChanged</c>: the members speaking now (you too, when unmuted).</summary>
        public static event Action<VoipChatResult> SpeakersChanged;

        /// <summary>
        /// <c>onVoIPVideoMembersChanged</c>: in a video room, the members publishing video now
        /// (in the order they started; a member publishes while it pushes frames and stops about
        /// a second after its last). <c>OpenIdList</c> holds them.
        /// </summary>
        public static event Action<VoipChatResult> VideoMembersChanged;

        /// <summary><c>onVoIPChatInterrupted</c>: a passive disconnect (<c>ErrCode</c>, <c>ErrMsg</c>).</summary>
        public static event Action<VoipChatResult> Interrupted;

        /// <summary><c>onVoIPChatStateChanged</c>: the new state and a small JSON object.</summary>
        public static event Action<VoipChatState, string> StateChanged;

        /// <summary>The SDK's log lines (at or above <see cref="VoipChatConfig.LogLevel"/>).</summary>
        public static event Action<LogLevel, string> Log;

        /// <summary>
        /// Receives exceptions thrown by user handlers during <see cref="Poll"/> (delivery goes on
        /// with the next item). The Unity driver routes them to <c>Debug.LogException</c>.
        /// </summary>
        public static Action<Exception> UnhandledException = e => Console.Error.WriteLine("voipchat: unhandled exception in a handler: " + e);

        /// <summary>
        /// Removes every handler of the events above. The Unity driver calls it when a play
        /// session starts, so handlers of the last session's destroyed objects are not called.
        /// </summary>
        public static void ClearEventHandlers()
        {
            MembersChanged = null;
            SpeakersChanged = null;
            VideoMembersChanged = null;
            VideoFrameReceived = null;
            Interrupted = null;
            StateChanged = null;
            Log = null;
        }

        // ---- state ------------------------------------------------------------------------

        /// <summary>Whether <see cref="Initialize"/> succeeded and <see cref="Shutdown"/> has not run since.</summary>
        public static bool IsInitialized
        {
            get { lock (Gate) { return initialized; } }
        }

        /// <summary>The call's state now.</summary>
        public static VoipChatState State
        {
            get { return IsInitialized ? (VoipChatState)Native.voip_state() : VoipChatState.Idle; }
        }

        /// <summary>The room's members, as last reported on the poll thread (empty outside a call).</summary>
        public static IReadOnlyList<string> Members
        {
            get { return members; }
        }

        /// <summary>Who is speaking, as last reported on the poll thread.</summary>
        public static IReadOnlyList<string> Speakers
        {
            get { return speakers; }
        }

        /// <summary>Video room: the members publishing video, as last reported on the poll thread.</summary>
        public static IReadOnlyList<string> VideoMembers
        {
            get { return videoMembers; }
        }

        /// <summary>Calls whose <c>complete</c> callback has not arrived yet (diagnostics).</summary>
        public static int PendingCallCount
        {
            get { return Volatile.Read(ref pendingCalls); }
        }

        /// <summary>The native library's version, e.g. "0.1.0".</summary>
        public static string Version
        {
            get { return Utf8.FromNative(Native.voip_version()); }
        }

        /// <summary>The reason for the last failure a code-only call reported on this thread.</summary>
        public static string LastErrorMessage()
        {
            return Utf8.FromNative(Native.voip_last_error_message()) ?? string.Empty;
        }

        // ---- lifecycle --------------------------------------------------------------------

        /// <summary>
        /// Starts the SDK in POLL dispatch. Throws <see cref="VoipChatException"/> (-1001) for a bad
        /// config or when already initialized.
        /// </summary>
        public static void Initialize(VoipChatConfig config)
        {
            if (config == null)
            {
                throw new ArgumentNullException("config");
            }
            HookTeardown();
            lock (Gate)
            {
                if (initialized)
                {
                    throw new VoipChatException(ErrorCodes.InvalidArgument, "already initialized: call VoipChat.Shutdown first");
                }
                logLevel = config.LogLevel;
                Native.VoipConfig c = Native.voip_config_default();
                using (var memory = new NativeAllocations())
                {
                    c.server = memory.String(config.Server);
                    c.server_cert_sha256 = memory.String(config.ServerCertSha256);
                    c.dispatch = Native.VOIP_DISPATCH_POLL;
                    c.audio_mode = (int)config.AudioMode;
                    c.input_device = memory.String(config.InputDevice);
                    c.output_device = memory.String(config.OutputDevice);
                    c.frame_ms = (uint)Math.Max(0, config.FrameMs);
                    c.log = Marshal.GetFunctionPointerForDelegate(LogFn);
                    c.log_user_data = IntPtr.Zero;
                    c.connect_timeout_ms = (uint)Math.Max(0, config.ConnectTimeoutMs);
                    c.resume_timeout_ms = (uint)Math.Max(0, config.ResumeTimeoutMs);
                    c.idle_timeout_ms = (uint)Math.Max(0, config.IdleTimeoutMs);
                    InstallListeners();
                    int code = Native.voip_init(ref c);
                    if (code != ErrorCodes.Ok)
                    {
                        string reason = LastErrorMessage();
                        UninstallListeners();
                        if (reason.Contains("already initialized"))
                        {
                            // Not by this domain: an earlier one (a script reload) never shut it
                            // down. Its log callback may point into that dead domain, so it cannot
                            // be shut down safely from here: restart the Editor / the process.
                            reason += " (by code no longer loaded: restart the process)";
                        }
                        throw new VoipChatException(code, "voip_init failed: " + reason);
                    }
                }
                initialized = true;
            }
        }

        /// <summary>
        /// Leaves the room (a join in progress fails with -3), delivers every pending callback
        /// and event on this thread, unregisters the native listeners and stops the runtime.
        /// Safe to call twice, from a handler, or without <see cref="Initialize"/>.
        /// </summary>
        public static void Shutdown()
        {
            Teardown(true);
        }

        /// <summary>
        /// Runs the library's queued callbacks and delivers everything they reported: events,
        /// call results (Task continuations included, when they run synchronously) and log lines,
        /// all on this thread. Call it once per frame from the game's main thread (the Unity
        /// package does it from the player loop). Returns how many items were delivered.
        /// </summary>
        public static int Poll()
        {
            bool live;
            lock (Gate)
            {
                live = initialized;
            }
            if (live)
            {
                Native.voip_poll();
            }
            return Deliver();
        }

        // ---- calls ------------------------------------------------------------------------

        /// <summary>
        /// <c>wx.joinVoIPChat</c>, promise style: completes with the room's members, or throws
        /// <see cref="VoipChatException"/> (<c>ErrCode</c>, <c>ErrMsg</c>) when the join fails.
        /// The task completes during <see cref="Poll"/>.
        /// </summary>
        public static Task<JoinResult> JoinAsync(JoinOptions options)
        {
            var done = new TaskCompletionSource<JoinResult>();
            Join(options, r => done.TrySetResult(r), r => done.TrySetException(new VoipChatException(r)), null);
            return done.Task;
        }

        /// <summary>
        /// <c>wx.joinVoIPChat</c>, callback style: exactly one of <paramref name="success"/> /
        /// <paramref name="fail"/>, then <paramref name="complete"/>, during <see cref="Poll"/>.
        /// Returns 0 when accepted, else the error code <paramref name="fail"/> also receives.
        /// </summary>
        public static int Join(JoinOptions options, Action<JoinResult> success = null, Action<JoinResult> fail = null, Action<JoinResult> complete = null)
        {
            if (options == null)
            {
                throw new ArgumentNullException("options");
            }
            var call = new PendingCall(CallKind.Join, r => Forward(success, r), r => Forward(fail, r), r => Forward(complete, r));
            using (var memory = new NativeAllocations())
            {
                var p = new Native.VoipJoinParams
                {
                    app_id = memory.String(options.AppId),
                    open_id = memory.String(options.OpenId),
                    group_id = memory.String(options.GroupId),
                    nonce_str = memory.String(options.NonceStr),
                    time_stamp = options.TimeStamp,
                    signature = memory.String(options.Signature),
                    room_type = (int)options.RoomType,
                    mute_config = options.MuteConfig.HasValue ? memory.Struct(options.MuteConfig.Value.ToNative()) : IntPtr.Zero,
                };
                return Start(call, (callbacks, userData) => Native.voip_join(ref p, callbacks, userData));
            }
        }

        /// <summary><c>wx.exitVoIPChat</c>, promise style. Throws <see cref="VoipChatException"/> (-1005 when not in a room).</summary>
        public static Task<VoipChatResult> ExitAsync()
        {
            var done = new TaskCompletionSource<VoipChatResult>();
            Exit(r => done.TrySetResult(r), r => done.TrySetException(new VoipChatException(r)), null);
            return done.Task;
        }

        /// <summary><c>wx.exitVoIPChat</c>, callback style: leaves the room or abandons a join in progress.</summary>
        public static int Exit(Action<VoipChatResult> success = null, Action<VoipChatResult> fail = null, Action<VoipChatResult> complete = null)
        {
            var call = new PendingCall(CallKind.Exit, success, fail, complete);
            return Start(call, (callbacks, userData) => Native.voip_exit(callbacks, userData));
        }

        /// <summary><c>wx.updateVoIPChatMuteConfig</c>, promise style.</summary>
        public static Task<VoipChatResult> UpdateMuteConfigAsync(MuteConfig muteConfig)
        {
            var done = new TaskCompletionSource<VoipChatResult>();
            UpdateMuteConfig(muteConfig, r => done.TrySetResult(r), r => done.TrySetException(new VoipChatException(r)), null);
            return done.Task;
        }

        /// <summary><c>wx.updateVoIPChatMuteConfig</c>, callback style.</summary>
        public static int UpdateMuteConfig(MuteConfig muteConfig, Action<VoipChatResult> success = null, Action<VoipChatResult> fail = null, Action<VoipChatResult> complete = null)
        {
            var call = new PendingCall(CallKind.Mute, success, fail, complete);
            Native.VoipMuteConfig mute = muteConfig.ToNative();
            return Start(call, (callbacks, userData) => Native.voip_update_mute_config(ref mute, callbacks, userData));
        }

        /// <summary>
        /// <c>wx.subscribeVoIPVideoMembers</c>, promise style: in a video room, receive video only
        /// from these members (an empty list: from none) instead of the default, the first two
        /// to publish. Completes once the relay applied it; throws <see cref="VoipChatException"/>
        /// with -1006 in a voice room, -1005 outside a call, -1001 for more than 64 ids.
        /// </summary>
        public static Task<VoipChatResult> SubscribeVideoMembersAsync(IEnumerable<string> openIdList)
        {
            var done = new TaskCompletionSource<VoipChatResult>();
            SubscribeVideoMembers(openIdList, r => done.TrySetResult(r), r => done.TrySetException(new VoipChatException(r)), null);
            return done.Task;
        }

        /// <summary><c>wx.subscribeVoIPVideoMembers</c>, callback style.</summary>
        public static int SubscribeVideoMembers(IEnumerable<string> openIdList, Action<VoipChatResult> success = null, Action<VoipChatResult> fail = null, Action<VoipChatResult> complete = null)
        {
            if (openIdList == null)
            {
                throw new ArgumentNullException("openIdList");
            }
            var ids = new List<string>(openIdList);
            var call = new PendingCall(CallKind.SubscribeVideo, success, fail, complete);
            using (var memory = new NativeAllocations())
            {
                IntPtr list = memory.StringArray(ids);
                return Start(call, (callbacks, userData) => Native.voip_subscribe_video_members(list, (UIntPtr)(uint)ids.Count, callbacks, userData));
            }
        }

        /// <summary>
        /// Turns a speech enhancer on or off for every remote member's voice, from each one's
        /// next frame (no gap), in this call and later ones until changed or <see cref="Shutdown"/>.
        /// Throws <see cref="VoipChatException"/> (-1001) before <see cref="Initialize"/> or for a
        /// value that is not a <see cref="VoiceEnhancement"/>.
        /// </summary>
        public static void SetVoiceEnhancement(VoiceEnhancement level)
        {
            int code = Native.voip_set_voice_enhancement((int)level);
            if (code != ErrorCodes.Ok)
            {
                throw new VoipChatException(code, "voip_set_voice_enhancement failed: " + LastErrorMessage());
            }
        }

        /// <summary>
        /// Sets the microphone's processing (<see cref="AudioProcessing"/>): from the next 10 ms
        /// of capture, mid-call too, and in later calls until changed or <see cref="Shutdown"/>.
        /// Throws <see cref="VoipChatException"/> (-1001) before <see cref="Initialize"/> or for a
        /// <see cref="NoiseSuppression"/> value that is not a level.
        /// </summary>
        public static void SetAudioProcessing(AudioProcessing settings)
        {
            if (settings == null)
            {
                throw new ArgumentNullException("settings");
            }
            int code = Native.voip_set_audio_processing(
                settings.EchoCancellation ? 1 : 0,
                (int)settings.NoiseSuppression,
                settings.GainControl ? 1 : 0);
            if (code != ErrorCodes.Ok)
            {
                throw new VoipChatException(code, "voip_set_audio_processing failed: " + LastErrorMessage());
            }
        }

        // ---- engine audio (EXTERNAL mode; safe on the audio thread, allocation-free) --------

        /// <summary>
        /// Hands the SDK captured audio: <paramref name="frames"/> interleaved frames of
        /// <paramref name="channels"/> at <paramref name="sampleRate"/>. Call it from the audio
        /// thread as the microphone delivers. Returns 0, or -1001 (bad format, not External mode).
        /// </summary>
        public static int PushCapture(float[] samples, int frames, int sampleRate, int channels)
        {
            CheckBuffer(samples, frames, channels, "samples");
            return Native.voip_audio_push_capture(samples, (UIntPtr)(uint)frames, (uint)sampleRate, (ushort)channels);
        }

        /// <summary>
        /// The call's mix into <paramref name="output"/> (interleaved); silence outside a call.
        /// Returns the frames written (0 on an error: not External mode, bad format).
        /// </summary>
        public static int PullPlayback(float[] output, int frames, int sampleRate, int channels)
        {
            CheckBuffer(output, frames, channels, "output");
            return (int)Native.voip_audio_pull_playback(output, (UIntPtr)(uint)frames, (uint)sampleRate, (ushort)channels).ToUInt32();
        }

        /// <summary>
        /// One member's voice alone, for a 3D AudioSource (that member then leaves the mix while
        /// pulled). Silence for a member not in the call. Returns as <see cref="PullPlayback"/>.
        /// </summary>
        public static int PullMember(MemberVoiceId member, float[] output, int frames, int sampleRate, int channels)
        {
            if (member == null)
            {
                throw new ArgumentNullException("member");
            }
            CheckBuffer(output, frames, channels, "output");
            return (int)Native.voip_audio_pull_member(member.Utf8Bytes, output, (UIntPtr)(uint)frames, (uint)sampleRate, (ushort)channels).ToUInt32();
        }

        /// <summary>The call's statistics as JSON (per member: received, lost, late, jitter buffer delay, ...).</summary>
        public static string StatsJson()
        {
            return SizedJson(Native.voip_stats_json, "voip_stats_json");
        }

        /// <summary>The system's audio devices as JSON, <c>{"input":[...],"output":[...]}</c> (Device mode).</summary>
        public static string AudioDevicesJson()
        {
            return SizedJson(Native.voip_audio_devices_json, "voip_audio_devices_json");
        }

        // ---- internals ----------------------------------------------------------------------

        enum CallKind
        {
            Join,
            Exit,
            Mute,
            SubscribeVideo,
        }

        /// <summary>One call's callbacks, carried through the library as a GCHandle in user_data.</summary>
        sealed class PendingCall
        {
            public readonly CallKind Kind;
            public readonly Action<VoipChatResult> Success;
            public readonly Action<VoipChatResult> Fail;
            public readonly Action<VoipChatResult> Complete;
            public bool Succeeded;

            public PendingCall(CallKind kind, Action<VoipChatResult> success, Action<VoipChatResult> fail, Action<VoipChatResult> complete)
            {
                Kind = kind;
                Success = success;
                Fail = fail;
                Complete = complete;
            }
        }

        delegate int NativeCall(Native.VoipCallbacks callbacks, IntPtr userData);

        static void Forward(Action<JoinResult> handler, VoipChatResult result)
        {
            if (handler != null)
            {
                handler((JoinResult)result);
            }
        }

        static Native.VoipCallbacks Callbacks()
        {
            return new Native.VoipCallbacks
            {
                success = Marshal.GetFunctionPointerForDelegate(SuccessFn),
                fail = Marshal.GetFunctionPointerForDelegate(FailFn),
                complete = Marshal.GetFunctionPointerForDelegate(CompleteFn),
            };
        }

        static int Start(PendingCall call, NativeCall invoke)
        {
            HookTeardown();
            GCHandle handle = GCHandle.Alloc(call);
            Interlocked.Increment(ref pendingCalls);
            try
            {
                // Whatever the return code, the library reports it through fail and complete too
                // (queued for voip_poll, or at once before voip_init): the handle is freed there.
                return invoke(Callbacks(), GCHandle.ToIntPtr(handle));
            }
            catch
            {
                // The call never reached the library (e.g. DllNotFoundException).
                handle.Free();
                Interlocked.Decrement(ref pendingCalls);
                throw;
            }
        }

        static void Enqueue(Action work)
        {
            lock (Gate)
            {
                Deliveries.Enqueue(work);
            }
        }

        static int Deliver()
        {
            int queued;
            lock (Gate)
            {
                queued = Deliveries.Count;
            }
            int delivered = 0;
            // Only what was queued on entry, so a handler that triggers more cannot trap the caller.
            for (; delivered < queued; delivered++)
            {
                Action next;
                lock (Gate)
                {
                    if (Deliveries.Count == 0)
                    {
                        break;
                    }
                    next = Deliveries.Dequeue();
                }
                try
                {
                    next();
                }
                catch (Exception e)
                {
                    ReportException(e);
                }
            }
            return delivered;
        }

        static void ReportException(Exception e)
        {
            Action<Exception> handler = UnhandledException;
            if (handler == null)
            {
                return;
            }
            try
            {
                handler(e);
            }
            catch
            {
                // A failing exception handler must not break delivery.
            }
        }

        static VoipChatResult ReadResult(IntPtr resultPtr, bool join)
        {
            var r = (Native.VoipResult)Marshal.PtrToStructure(resultPtr, typeof(Native.VoipResult));
            string message = Utf8.FromNative(r.err_msg);
            string[] ids = r.open_id_list == IntPtr.Zero ? new string[0] : Utf8.ListFromNative(r.open_id_list, r.open_id_count);
            return join ? new JoinResult(r.err_code, message, ids) : new VoipChatResult(r.err_code, message, ids);
        }

        static PendingCall CallOf(IntPtr userData)
        {
            return (PendingCall)GCHandle.FromIntPtr(userData).Target;
        }

        // The only methods native code calls. They copy what they need (pointers are valid during
        // the callback only), queue the user-visible work, and never let an exception escape.

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void OnSuccess(IntPtr result, IntPtr userData)
        {
            try
            {
                CallOf(userData).Succeeded = true;
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void OnFail(IntPtr result, IntPtr userData)
        {
            try
            {
                CallOf(userData).Succeeded = false;
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void OnComplete(IntPtr resultPtr, IntPtr userData)
        {
            try
            {
                GCHandle handle = GCHandle.FromIntPtr(userData);
                var call = (PendingCall)handle.Target;
                handle.Free();
                Interlocked.Decrement(ref pendingCalls);
                VoipChatResult result = ReadResult(resultPtr, call.Kind == CallKind.Join);
                // success/fail ran just before with the same result; `complete` is the last word.
                bool ok = call.Succeeded && result.IsOk;
                Enqueue(() => DeliverCall(call, ok, result));
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        static void DeliverCall(PendingCall call, bool ok, VoipChatResult result)
        {
            if (ok)
            {
                if (call.Kind == CallKind.Join)
                {
                    members = result.OpenIdList;
                }
                else if (call.Kind == CallKind.Exit)
                {
                    members = NoOne;
                    speakers = NoOne;
                    videoMembers = NoOne;
                    ForgetVideoFrames(NoOne);
                }
            }
            try
            {
                Action<VoipChatResult> first = ok ? call.Success : call.Fail;
                if (first != null)
                {
                    first(result);
                }
            }
            finally
            {
                if (call.Complete != null)
                {
                    call.Complete(result);
                }
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void OnMembersChanged(IntPtr resultPtr, IntPtr userData)
        {
            try
            {
                VoipChatResult result = ReadResult(resultPtr, false);
                Enqueue(() =>
                {
                    members = result.OpenIdList;
                    ForgetVideoFrames(members);
                    Action<VoipChatResult> handler = MembersChanged;
                    if (handler != null)
                    {
                        handler(result);
                    }
                });
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void OnSpeakersChanged(IntPtr resultPtr, IntPtr userData)
        {
            try
            {
                VoipChatResult result = ReadResult(resultPtr, false);
                Enqueue(() =>
                {
                    speakers = result.OpenIdList;
                    Action<VoipChatResult> handler = SpeakersChanged;
                    if (handler != null)
                    {
                        handler(result);
                    }
                });
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void OnVideoMembersChanged(IntPtr resultPtr, IntPtr userData)
        {
            try
            {
                VoipChatResult result = ReadResult(resultPtr, false);
                Enqueue(() =>
                {
                    videoMembers = result.OpenIdList;
                    Action<VoipChatResult> handler = VideoMembersChanged;
                    if (handler != null)
                    {
                        handler(result);
                    }
                });
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void OnInterrupted(IntPtr resultPtr, IntPtr userData)
        {
            try
            {
                VoipChatResult result = ReadResult(resultPtr, false);
                Enqueue(() =>
                {
                    members = NoOne;
                    speakers = NoOne;
                    videoMembers = NoOne;
                    ForgetVideoFrames(NoOne);
                    Action<VoipChatResult> handler = Interrupted;
                    if (handler != null)
                    {
                        handler(result);
                    }
                });
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipStateFn))]
        static void OnStateChanged(int code, IntPtr dataJson, IntPtr userData)
        {
            try
            {
                var state = (VoipChatState)code;
                string json = Utf8.FromNative(dataJson) ?? "{}";
                Enqueue(() =>
                {
                    if (state == VoipChatState.Left || state == VoipChatState.Idle)
                    {
                        members = NoOne;
                        speakers = NoOne;
                        videoMembers = NoOne;
                        ForgetVideoFrames(NoOne);
                    }
                    Action<VoipChatState, string> handler = StateChanged;
                    if (handler != null)
                    {
                        handler(state, json);
                    }
                });
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipVideoFrameFn))]
        static void OnVideoFrame(IntPtr openId, IntPtr frame, IntPtr userData)
        {
            try
            {
                // The planes are valid during this call only: copied here, delivered in Poll (VideoFrames.cs).
                ReceiveVideoFrame(openId, frame);
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        [MonoPInvokeCallback(typeof(Native.VoipLogFn))]
        static void OnLog(int level, IntPtr message, IntPtr userData)
        {
            try
            {
                if (level > (int)logLevel)
                {
                    return;
                }
                string text = Utf8.FromNative(message) ?? string.Empty;
                Enqueue(() =>
                {
                    Action<LogLevel, string> handler = Log;
                    if (handler != null)
                    {
                        handler((LogLevel)level, text);
                    }
                });
            }
            catch (Exception e)
            {
                Enqueue(() => ReportException(e));
            }
        }

        static void InstallListeners()
        {
            Native.voip_on_members_changed(Marshal.GetFunctionPointerForDelegate(MembersFn), IntPtr.Zero);
            Native.voip_on_speakers_changed(Marshal.GetFunctionPointerForDelegate(SpeakersFn), IntPtr.Zero);
            Native.voip_on_video_members_changed(Marshal.GetFunctionPointerForDelegate(VideoMembersFn), IntPtr.Zero);
            Native.voip_on_interrupted(Marshal.GetFunctionPointerForDelegate(InterruptedFn), IntPtr.Zero);
            Native.voip_on_state_changed(Marshal.GetFunctionPointerForDelegate(StateFn), IntPtr.Zero);
            Native.voip_on_video_frame(Marshal.GetFunctionPointerForDelegate(VideoFrameFn), IntPtr.Zero);
            listenersInstalled = true;
        }

        static void UninstallListeners()
        {
            // The library keeps listeners across voip_shutdown; left set, they would point into
            // this domain after a script reload.
            Native.voip_on_members_changed(IntPtr.Zero, IntPtr.Zero);
            Native.voip_on_speakers_changed(IntPtr.Zero, IntPtr.Zero);
            Native.voip_on_video_members_changed(IntPtr.Zero, IntPtr.Zero);
            Native.voip_on_interrupted(IntPtr.Zero, IntPtr.Zero);
            Native.voip_on_state_changed(IntPtr.Zero, IntPtr.Zero);
            Native.voip_on_video_frame(IntPtr.Zero, IntPtr.Zero);
            listenersInstalled = false;
        }

        /// <summary>
        /// The one way down. <paramref name="deliver"/>: run what the shutdown reported (the
        /// caller's thread is the poll thread); otherwise (the domain is unloading) drop it
        /// without running user code.
        /// </summary>
        static void Teardown(bool deliver)
        {
            bool wasLive;
            lock (Gate)
            {
                wasLive = initialized || listenersInstalled;
                initialized = false;
            }
            if (wasLive)
            {
                // Leaves the room; in POLL dispatch it runs every queued callback on this thread,
                // so each pending call's `complete` frees its handle here.
                Native.voip_shutdown();
                lock (Gate)
                {
                    UninstallListeners();
                }
            }
            members = NoOne;
            speakers = NoOne;
            videoMembers = NoOne;
            if (deliver)
            {
                Deliver();
            }
            else
            {
                lock (Gate)
                {
                    Deliveries.Clear();
                }
            }
            // After the clear above, a member's slot could stay marked as queued: start afresh.
            ForgetVideoFrames(NoOne);
        }

        static void HookTeardown()
        {
            lock (Gate)
            {
                if (teardownHooked)
                {
                    return;
                }
                teardownHooked = true;
            }
            // Script reload (Unity) or AppDomain.Unload: leave the room and unregister every
            // native pointer into this domain, without running user code.
            AppDomain.CurrentDomain.DomainUnload += (sender, args) => DomainTeardown();
            AppDomain.CurrentDomain.ProcessExit += (sender, args) => DomainTeardown();
        }

        static void DomainTeardown()
        {
            try
            {
                Teardown(false);
                VoipChatRelay.StopAll();
            }
            catch (Exception)
            {
                // Nothing left to report to while the domain goes away.
            }
        }

        static void CheckBuffer(float[] buffer, int frames, int channels, string name)
        {
            if (buffer == null)
            {
                throw new ArgumentNullException(name);
            }
            if (frames < 0 || channels <= 0 || channels > ushort.MaxValue || (long)frames * channels > buffer.Length)
            {
                throw new ArgumentOutOfRangeException(name, "the buffer holds fewer than frames * channels samples");
            }
        }

        delegate int SizedCall(byte[] output, UIntPtr length, out UIntPtr needed);

        static string SizedJson(SizedCall call, string name)
        {
            for (int attempt = 0; attempt < 4; attempt++)
            {
                UIntPtr needed;
                int code = call(null, UIntPtr.Zero, out needed);
                if (code != ErrorCodes.Ok)
                {
                    throw new VoipChatException(code, name + ": " + LastErrorMessage());
                }
                var buffer = new byte[(int)needed.ToUInt32() + 64];
                code = call(buffer, (UIntPtr)(uint)buffer.Length, out needed);
                if (code == ErrorCodes.Ok)
                {
                    return Utf8.FromBuffer(buffer);
                }
                // The JSON grew between the two calls: ask again.
            }
            throw new VoipChatException(ErrorCodes.System, name + ": the text kept growing");
        }
    }
}
