// The Unity binding's test program: the package's Unity-independent C# (VoipChatSdk.dll), run
// under Mono against the freshly built libvoipchat.so and a real relay embedded through
// voip_server_start. The main thread is the "game's main thread": it drives VoipChat.Poll(),
// and every event and callback is checked to arrive on it.
//
//   mono VoipChatTests.exe                  run every test; last line "N passed, M failed"
//   mono VoipChatTests.exe member ...       the second client (see MemberProcess.cs)
//   mono VoipChatTests.exe domain-reload    the AppDomain unload scenario, in its own process
//
// Environment: LD_LIBRARY_PATH finds libvoipchat.so; VOIPCHAT_LAYOUT names the file of C
// struct offsets that bindings/unity/test.sh produces; VOIPCHAT_TEST_TIMEOUT_SCALE stretches
// the timeouts.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using AOT;
using VoipChatSdk.DevelopmentOnly;
using VoipChatSdk.Interop;
using static VoipChatSdk.Tests.Harness;

namespace VoipChatSdk.Tests
{
    static class Program
    {
        const string AppId = "wx-unity-test";
        const string Secret = "unity-test-secret";

        static int mainThread;
        static VoipChatRelay relay;
        static string group;

        // Every event the package delivered, with the thread it arrived on.
        sealed class Seen
        {
            public string Kind;
            public VoipChatResult Result;
            public VoipChatState State;
            public string Json;
            public int Thread;

            public override string ToString()
            {
                return Kind + (Result != null ? " " + Result : " " + State + " " + Json);
            }
        }

        static readonly List<Seen> events = new List<Seen>();

        static int Main(string[] args)
        {
            if (args.Length > 0 && args[0] == "member")
            {
                return MemberProcess.Run(args);
            }
            if (args.Length > 0 && args[0] == "domain-reload")
            {
                return DomainReloadProcess();
            }
            Console.SetOut(new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true });
            mainThread = Thread.CurrentThread.ManagedThreadId;
            group = "unity-room-" + Process.GetCurrentProcess().Id;
            VoipChat.MembersChanged += r => Record(new Seen { Kind = "members", Result = r });
            VoipChat.SpeakersChanged += r => Record(new Seen { Kind = "speakers", Result = r });
            VoipChat.VideoMembersChanged += r => Record(new Seen { Kind = "video", Result = r });
            VoipChat.Interrupted += r => Record(new Seen { Kind = "interrupted", Result = r });
            VoipChat.StateChanged += (s, json) => Record(new Seen { Kind = "state", State = s, Json = json });
            VoipChat.Log += (level, line) => Console.Error.WriteLine("[voipchat {0}] {1}", level, line);
            VoipChat.UnhandledException = e => Console.WriteLine("UNHANDLED in a handler: " + e);

            Test("P/Invoke structs have the C compiler's sizes and offsets", LayoutMatchesC);
            Test("native library loads; version", NativeVersion);
            Test("dev signer matches voip_session_key, voip_sign and the Rust test vectors", DevSignerMatchesNative);
            Test("SignedJoinJson reads a backend's signed join; rejects malformed JSON", SignedJoinJsonParses);
            Test("join before Initialize: JoinAsync throws VoipChatException -1001", JoinBeforeInitialize);
            Test("embedded relay starts (voip_server_start); Initialize; a second Initialize throws", StartRelayAndInitialize);
            Test("-1002 bad signature, callback style: fail then complete once each, only inside Poll, on the poll thread", BadSignatureCallbacks);
            Test("-1002 bad signature, Task style: JoinAsync throws VoipChatException with ErrCode and ErrMsg", BadSignatureTask);
            Test("join with the JSON `voipchat-server sign` prints (a backend's answer): JoinAsync resolves with the member list; JOINING then JOINED on the poll thread", JoinSucceeds);
            Test("-1: a second join while in the room fails (callback and Task)", SecondJoinFails);
            Test("UpdateMuteConfigAsync: ok; an awaiting method resumes on the poll thread", UpdateMuteConfig);
            Test("video calls in a voice room: PushVideoFrame -1006, SubscribeVideoMembers fails -1006 (callback and Task), nothing to pull", VideoInVoiceRoom);
            Test("speakers-changed: the local player speaks through PushCapture", LocalSpeakers);
            Test("SetVoiceEnhancement: each level while in the call, stats say which; an undefined level throws -1001; left on Strong", VoiceEnhancementLevels);
            Test("SetAudioProcessing: each stage off and on while in the call, stats say which; an undefined noise level throws -1001 and changes nothing; left on the defaults", AudioProcessingSettings);
            Test("a second client process: members-changed, its speech (through the Strong enhancer) in speakers-changed and PullMember", SecondClientProcess);
            Test("events follow the poll driver to whichever thread calls Poll", EventsFollowThePollThread);
            Test("exit: ExitAsync resolves, state LEFT, members cleared; exiting again throws -1005", ExitRoom);
            Test("rejoin after exit, with a non-ASCII openId and groupId; a string with a NUL is refused", RejoinUnicode);
            Test("bad video frames: zero, too large, short stride, NULL plane, unknown format -> -1001 with a reason; short arrays throw before native code", BadVideoFrames);
            Test("a video room with a second client process: subscribe (callback and Task); pictures both ways at 640x360, upright, in sequence, pulled and as VideoFrameReceived events (on the poll thread, one per member per Poll, the latest after a stall, the same RGBA as a pull); video-members events; -1005 after exit", VideoRoom);
            Test("Shutdown during a join: the join fails with -3 during Shutdown; no handle leaks", ShutdownDuringJoin);
            Test("domain unload (script reload): the room is left and no callback reaches the dead domain", DomainUnload);
            Test("interrupted: the relay going away reaches Interrupted -1009 and state LEFT; a handler may call Shutdown", InterruptedByRelayStop);
            Test("after Shutdown: Poll is harmless, nothing pending, Shutdown twice is safe", AfterShutdown);

            try
            {
                VoipChat.Shutdown();
                if (relay != null)
                {
                    relay.Dispose();
                }
            }
            catch (Exception e)
            {
                Failed++;
                Console.WriteLine("FAIL cleanup: " + e);
            }
            Console.WriteLine("{0} passed, {1} failed", Passed, Failed);
            return Failed == 0 ? 0 : 1;
        }

        static void Record(Seen seen)
        {
            seen.Thread = Thread.CurrentThread.ManagedThreadId;
            lock (events)
            {
                events.Add(seen);
            }
        }

        static int Mark()
        {
            lock (events)
            {
                return events.Count;
            }
        }

        static List<Seen> Since(int mark, string kind = null)
        {
            lock (events)
            {
                var list = new List<Seen>();
                for (int i = mark; i < events.Count; i++)
                {
                    if (kind == null || events[i].Kind == kind)
                    {
                        list.Add(events[i]);
                    }
                }
                return list;
            }
        }

        static void AllOnMainThread(int mark)
        {
            foreach (Seen seen in Since(mark))
            {
                Check(seen.Thread == mainThread, string.Format("{0} arrived on thread {1}, not the poll thread {2}", seen, seen.Thread, mainThread));
            }
        }

        static VoipChatConfig ConfigFor(VoipChatRelay r)
        {
            return new VoipChatConfig
            {
                Server = "127.0.0.1:" + r.Port,
                ServerCertSha256 = r.CertSha256,
                AudioMode = AudioMode.External,
                LogLevel = LogLevel.Warn,
            };
        }

        // ---- tests --------------------------------------------------------------------------

        static void LayoutMatchesC()
        {
            string path = Environment.GetEnvironmentVariable("VOIPCHAT_LAYOUT");
            Check(path != null && File.Exists(path), "VOIPCHAT_LAYOUT names no file (run through bindings/unity/test.sh)");
            int structs = 0, fields = 0;
            foreach (string line in File.ReadAllLines(path))
            {
                string[] parts = line.Split(' ');
                if (parts.Length == 3 && parts[0] == "struct")
                {
                    Type t = typeof(Native).GetNestedType(parts[1]);
                    Check(t != null, "no C# struct " + parts[1]);
                    Equal(int.Parse(parts[2]), Marshal.SizeOf(t), "sizeof " + parts[1]);
                    structs++;
                }
                else if (parts.Length == 4 && parts[0] == "field")
                {
                    Type t = typeof(Native).GetNestedType(parts[1]);
                    Check(t != null, "no C# struct " + parts[1]);
                    Equal(long.Parse(parts[3]), Marshal.OffsetOf(t, parts[2]).ToInt64(), "offsetof " + parts[1] + "." + parts[2]);
                    fields++;
                }
            }
            Check(structs >= 8 && fields >= 40, "layout file lists " + structs + " structs and " + fields + " fields");
            // The video frame's arrays are three fields each in C#: the compiler's offsets for
            // planes[i] and strides[i] were compared above; on 64-bit the whole is 64 bytes.
            if (IntPtr.Size == 8)
            {
                Equal(64, Marshal.SizeOf(typeof(Native.VoipVideoFrame)), "sizeof VoipVideoFrame");
                Equal(56L, Marshal.OffsetOf(typeof(Native.VoipVideoFrame), "sequence").ToInt64(), "offsetof VoipVideoFrame.sequence");
            }
        }

        static void NativeVersion()
        {
            string version = VoipChat.Version;
            Check(version != null && Regex.IsMatch(version, @"^\d+\.\d+\.\d+"), "version " + version);
            Equal(VoipChatState.Idle, VoipChat.State, "state before Initialize");
            Equal(0, VoipChat.Poll(), "Poll before Initialize");
        }

        static string NativeSessionKey(string secret, string openId)
        {
            var buffer = new byte[Native.VOIP_SESSION_KEY_BUFFER];
            Equal(0, Native.voip_session_key(Utf8.NulTerminated(secret), Utf8.NulTerminated(openId), buffer, (UIntPtr)(uint)buffer.Length), "voip_session_key");
            return Utf8.FromBuffer(buffer);
        }

        static string NativeSign(string key, string app, string grp, string nonce, long ts)
        {
            var buffer = new byte[Native.VOIP_SIGNATURE_BUFFER];
            Equal(0, Native.voip_sign(Utf8.NulTerminated(key), Utf8.NulTerminated(app), Utf8.NulTerminated(grp), Utf8.NulTerminated(nonce), ts, buffer, (UIntPtr)(uint)buffer.Length), "voip_sign");
            return Utf8.FromBuffer(buffer);
        }

        static void DevSignerMatchesNative()
        {
            // The vectors of tests/ffi.rs.
            Equal("m0bDSSX1sxl4bVzt5Nxy7XywIGHhUmMDkozt29bCxco=", DevJoinSigner.SessionKey("secret", "user"), "session key vector");
            Equal("0a5abcc860ef1caca09ee51f66d8db43c6b4c84d6e0b2651a0021735d4d34a47", DevJoinSigner.Sign("key", "app", "grp", "nonce", 1700000000), "signature vector");
            Equal(NativeSessionKey("secret", "user"), DevJoinSigner.SessionKey("secret", "user"), "session key vs native");
            // Sorting is byte-wise on UTF-8: U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80),
            // though its UTF-16 (FF21) sorts after the surrogate D83D. Also numbers vs letters.
            string[][] cases =
            {
                new[] { "wx123", "alice", "match-42", "n0nce", "1700000000" },
                new[] { "app\uFF21", "\u00e9milie", "app\uD83D\uDE00", "Zz", "42" },
                new[] { "9", "user", "10", "1", "-5" },
            };
            foreach (string[] c in cases)
            {
                long ts = long.Parse(c[4]);
                string key = DevJoinSigner.SessionKey(Secret, c[1]);
                Equal(NativeSessionKey(Secret, c[1]), key, "session key of " + c[1]);
                Equal(NativeSign(key, c[0], c[2], c[3], ts), DevJoinSigner.Sign(key, c[0], c[2], c[3], ts), "signature of " + string.Join("|", c));
            }
            // Too small a buffer: -1001, as the header promises.
            var small = new byte[Native.VOIP_SIGNATURE_BUFFER - 1];
            Equal(Native.VOIP_ERR_INVALID_ARGUMENT, Native.voip_sign(Utf8.NulTerminated("k"), Utf8.NulTerminated("a"), Utf8.NulTerminated("g"), Utf8.NulTerminated("n"), 1, small, (UIntPtr)(uint)small.Length), "voip_sign into 64 bytes");
            JoinOptions signed = DevJoinSigner.SignJoin(AppId, Secret, "someone", "room");
            Check(signed.NonceStr.Length == 16 && signed.Signature.Length == 64, "SignJoin fills nonce and signature");
        }

        static void SignedJoinJsonParses()
        {
            JoinOptions o = SignedJoinJson.Parse(" {\"appId\":\"wx\\\"1\",\"openId\":\"\\u00e9mile\", \"groupId\":\"g/1\",\"nonceStr\":\"n\",\"timeStamp\":-17,\"signature\":\"ab\",\"extra\":true} ", RoomType.Video, new MuteConfig(true, false));
            Equal("wx\"1", o.AppId, "appId with an escaped quote");
            Equal("\u00e9mile", o.OpenId, "openId with a \\u escape");
            Equal("g/1", o.GroupId, "groupId");
            Equal(-17L, o.TimeStamp, "timeStamp");
            Equal(RoomType.Video, o.RoomType, "roomType from the argument");
            Check(o.MuteConfig.HasValue && o.MuteConfig.Value.MuteMicrophone, "muteConfig from the argument");
            foreach (string bad in new[] { "", "[]", "{\"appId\":1}", "{\"appId\":\"a\",\"openId\":\"b\",\"groupId\":\"c\",\"nonceStr\":\"d\",\"timeStamp\":1.5,\"signature\":\"e\"}", "{\"appId\":\"a\"} x", "{\"appId\":{}}" })
            {
                try
                {
                    SignedJoinJson.Parse(bad);
                    throw new CheckFailed("accepted " + bad);
                }
                catch (FormatException)
                {
                }
            }
        }

        /// <summary>What a game backend returns: here the reference signer, `voipchat-server sign`.</summary>
        static JoinOptions SignedByServerBinary(string openId, string room)
        {
            string binary = Environment.GetEnvironmentVariable("VOIPCHAT_SERVER_BIN");
            Check(binary != null && File.Exists(binary), "VOIPCHAT_SERVER_BIN names no file (run through bindings/unity/test.sh)");
            var start = new ProcessStartInfo
            {
                FileName = binary,
                Arguments = string.Format("sign --app-id {0} --app-secret {1} --open-id {2} --group-id {3}", AppId, Secret, openId, room),
                UseShellExecute = false,
                RedirectStandardOutput = true,
            };
            using (Process sign = Process.Start(start))
            {
                string json = sign.StandardOutput.ReadToEnd();
                sign.WaitForExit();
                Equal(0, sign.ExitCode, "voipchat-server sign exit code");
                return SignedJoinJson.Parse(json);
            }
        }

        static void JoinBeforeInitialize()
        {
            int mark = Mark();
            VoipChatException e = AwaitFailure(VoipChat.JoinAsync(DevJoinSigner.SignJoin(AppId, Secret, "early", group)));
            Equal(ErrorCodes.InvalidArgument, e.ErrCode, "ErrCode");
            Check(e.ErrMsg.StartsWith("joinVoIPChat:fail") && e.ErrMsg.Contains("not initialized"), "ErrMsg: " + e.ErrMsg);
            Equal(0, VoipChat.PendingCallCount, "pending calls");
            Equal(0, Since(mark).Count, "events");
        }

        static void StartRelayAndInitialize()
        {
            relay = VoipChatRelay.Start(new RelayOptions { Apps = new[] { new RelayApp(AppId, Secret) } });
            Check(relay.Port > 0, "relay port " + relay.Port);
            Check(relay.CertSha256 != null && Regex.IsMatch(relay.CertSha256, "^[0-9a-f]{64}$"), "relay cert " + relay.CertSha256);
            VoipChat.Initialize(ConfigFor(relay));
            Check(VoipChat.IsInitialized, "initialized");
            Equal(VoipChatState.Idle, VoipChat.State, "state");
            try
            {
                VoipChat.Initialize(ConfigFor(relay));
                throw new CheckFailed("a second Initialize did not throw");
            }
            catch (VoipChatException e)
            {
                Equal(ErrorCodes.InvalidArgument, e.ErrCode, "second Initialize ErrCode");
            }
        }

        static void BadSignatureCallbacks()
        {
            int mark = Mark();
            JoinOptions options = DevJoinSigner.SignJoin(AppId, Secret, "mallory", group);
            options.Signature = new string('0', 64);
            int success = 0, fail = 0, complete = 0;
            var threads = new List<int>();
            JoinResult failed = null, completed = null;
            int code = VoipChat.Join(options,
                r => { success++; threads.Add(Thread.CurrentThread.ManagedThreadId); },
                r => { fail++; failed = r; threads.Add(Thread.CurrentThread.ManagedThreadId); },
                r => { complete++; completed = r; threads.Add(Thread.CurrentThread.ManagedThreadId); });
            Equal(0, code, "Join accepted (the answer comes later)");
            // Nothing reaches user code outside Poll, however long the library has had the answer.
            Thread.Sleep((int)(1000 * Scale));
            Equal(0, success + fail + complete, "callbacks before any Poll");
            // The delegates native code holds survive a collection.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Check(PumpUntil(() => complete > 0, 10), "complete within 10 s");
            Pump(0.3);
            Equal(0, success, "success calls");
            Equal(1, fail, "fail calls");
            Equal(1, complete, "complete calls");
            Check(ReferenceEquals(failed, completed), "fail and complete receive the same result");
            Equal(ErrorCodes.SignatureRejected, failed.ErrCode, "ErrCode");
            Check(failed.ErrMsg.StartsWith("joinVoIPChat:fail"), "ErrMsg: " + failed.ErrMsg);
            Equal(0, failed.OpenIdList.Count, "no members on failure");
            foreach (int t in threads)
            {
                Equal(mainThread, t, "callback thread");
            }
            Equal(0, VoipChat.PendingCallCount, "pending calls");
            AllOnMainThread(mark);
        }

        static void BadSignatureTask()
        {
            JoinOptions options = DevJoinSigner.SignJoin(AppId, Secret, "mallory", group);
            options.Signature = DevJoinSigner.Sign(DevJoinSigner.SessionKey("wrong-secret", "mallory"), AppId, group, options.NonceStr, options.TimeStamp);
            VoipChatException e = AwaitFailure(VoipChat.JoinAsync(options));
            Equal(ErrorCodes.SignatureRejected, e.ErrCode, "ErrCode");
            Check(e.ErrMsg.StartsWith("joinVoIPChat:fail"), "ErrMsg: " + e.ErrMsg);
            Check(e.Result is JoinResult, "the exception carries the JoinResult");
            Check(e.Message.Contains("-1002"), "Message names the code: " + e.Message);
            Equal(VoipChatState.Left, VoipChat.State, "state after a refused join (JOINING, then LEFT)");
        }

        static void JoinSucceeds()
        {
            int mark = Mark();
            JoinOptions options = SignedByServerBinary("alice", group);
            Equal(DevJoinSigner.Sign(DevJoinSigner.SessionKey(Secret, "alice"), AppId, group, options.NonceStr, options.TimeStamp), options.Signature, "the dev signer agrees with the server's signer");
            Task<JoinResult> join = VoipChat.JoinAsync(options);
            int continuationThread = -1;
            join.ContinueWith(t => continuationThread = Thread.CurrentThread.ManagedThreadId, TaskContinuationOptions.ExecuteSynchronously);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            JoinResult result = Await(join);
            Equal(0, result.ErrCode, "ErrCode");
            Equal("joinVoIPChat:ok", result.ErrMsg, "ErrMsg");
            SameList(new[] { "alice" }, result.OpenIdList, "openIdList");
            SameList(new[] { "alice" }, VoipChat.Members, "VoipChat.Members");
            Equal(VoipChatState.Joined, VoipChat.State, "state");
            Equal(mainThread, continuationThread, "Task continuation thread");
            Check(PumpUntil(() => Since(mark, "state").Exists(s => s.State == VoipChatState.Joined), 5), "JOINED state event");
            List<Seen> states = Since(mark, "state");
            Equal(VoipChatState.Joining, states[0].State, "first state event");
            Check(states[0].Json.Contains("\"groupId\":\"" + group + "\""), "state JSON: " + states[0].Json);
            Check(states.FindIndex(s => s.State == VoipChatState.Joined) > 0, "JOINED after JOINING");
            AllOnMainThread(mark);
        }

        static void SecondJoinFails()
        {
            JoinResult failed = null;
            int completes = 0;
            int code = VoipChat.Join(DevJoinSigner.SignJoin(AppId, Secret, "alice", group), r => { throw new CheckFailed("success"); }, r => failed = r, r => completes++);
            Equal(ErrorCodes.AlreadyInRoom, code, "Join return code");
            Check(PumpUntil(() => completes == 1, 5), "complete");
            Equal(ErrorCodes.AlreadyInRoom, failed.ErrCode, "fail ErrCode");
            VoipChatException e = AwaitFailure(VoipChat.JoinAsync(DevJoinSigner.SignJoin(AppId, Secret, "alice2", group)));
            Equal(ErrorCodes.AlreadyInRoom, e.ErrCode, "JoinAsync ErrCode");
            Equal(VoipChatState.Joined, VoipChat.State, "still joined");
        }

        static async Task<int> UnmuteAndReportThread()
        {
            VoipChatResult result = await VoipChat.UpdateMuteConfigAsync(new MuteConfig(false, false));
            Check(result.IsOk, "unmute: " + result);
            return Thread.CurrentThread.ManagedThreadId;
        }

        static void UpdateMuteConfig()
        {
            VoipChatResult muted = Await(VoipChat.UpdateMuteConfigAsync(new MuteConfig(true, false)));
            Equal("updateVoIPChatMuteConfig:ok", muted.ErrMsg, "ErrMsg");
            Equal(mainThread, Await(UnmuteAndReportThread()), "thread after await");
        }

        /// <summary>Real time, 10 ms per step: pushes the script, pulls the mix, polls.</summary>
        static float[] RunAudio(float[] script, MemberVoiceId pullAlone, Func<bool> stopWhen)
        {
            var chunk = new float[Speech.Step];
            var output = new float[Speech.Step];
            var heard = new List<float>();
            var watch = Stopwatch.StartNew();
            int steps = script != null ? script.Length / Speech.Step : int.MaxValue;
            for (int step = 0; step < steps; step++)
            {
                if (script != null)
                {
                    Array.Copy(script, step * Speech.Step, chunk, 0, Speech.Step);
                    Equal(0, VoipChat.PushCapture(chunk, Speech.Step, Speech.Rate, 1), "PushCapture");
                }
                int written = pullAlone != null
                    ? VoipChat.PullMember(pullAlone, output, Speech.Step, Speech.Rate, 1)
                    : VoipChat.PullPlayback(output, Speech.Step, Speech.Rate, 1);
                Equal(Speech.Step, written, "frames pulled");
                heard.AddRange(output);
                VoipChat.Poll();
                if (stopWhen != null && stopWhen())
                {
                    break;
                }
                MemberProcess.SleepUntil(watch, (step + 1) * 10);
            }
            return heard.ToArray();
        }

        static void LocalSpeakers()
        {
            int mark = Mark();
            RunAudio(Speech.Script(0.5, 1.5, 1.0, 140.0), null, null);
            PumpUntil(() => { List<Seen> s = Since(mark, "speakers"); return s.Count > 0 && s[s.Count - 1].Result.OpenIdList.Count == 0; }, 2);
            List<Seen> speakers = Since(mark, "speakers");
            Check(speakers.Count >= 2, "speakers-changed events: " + string.Join("; ", speakers.ConvertAll(s => s.ToString()).ToArray()));
            SameList(new[] { "alice" }, speakers[0].Result.OpenIdList, "first speakers list");
            Equal("onVoIPChatSpeakersChanged:ok", speakers[0].Result.ErrMsg, "ErrMsg");
            SameList(new string[0], speakers[speakers.Count - 1].Result.OpenIdList, "last speakers list (silence)");
            SameList(new string[0], VoipChat.Speakers, "VoipChat.Speakers");
            AllOnMainThread(mark);
        }

        static void VoiceEnhancementLevels()
        {
            foreach (var level in new[] { VoiceEnhancement.Light, VoiceEnhancement.Off, VoiceEnhancement.Strong })
            {
                VoipChat.SetVoiceEnhancement(level);
                string want = "\"voiceEnhancement\":\"" + level.ToString().ToLowerInvariant() + "\"";
                Check(VoipChat.StatsJson().Contains(want), "stats after " + level + ": " + VoipChat.StatsJson());
            }
            try
            {
                VoipChat.SetVoiceEnhancement((VoiceEnhancement)7);
                Check(false, "level 7 was accepted");
            }
            catch (VoipChatException e)
            {
                Equal(ErrorCodes.InvalidArgument, e.ErrCode, "ErrCode for level 7");
                Check(e.ErrMsg.Contains("not a level"), "ErrMsg: " + e.ErrMsg);
            }
            Check(VoipChat.StatsJson().Contains("\"voiceEnhancement\":\"strong\""), "a refused level changes nothing");
        }

        static void AudioProcessingSettings()
        {
            Check(VoipChat.StatsJson().Contains("\"echoCancellation\":true"), "on by default: " + VoipChat.StatsJson());
            VoipChat.SetAudioProcessing(new AudioProcessing { EchoCancellation = false, NoiseSuppression = NoiseSuppression.VeryHigh, GainControl = false });
            string stats = VoipChat.StatsJson();
            Check(stats.Contains("\"echoCancellation\":false") && stats.Contains("\"noiseSuppression\":\"veryHigh\"") && stats.Contains("\"gainControl\":false"), "stats after setting: " + stats);
            try
            {
                VoipChat.SetAudioProcessing(new AudioProcessing { NoiseSuppression = (NoiseSuppression)9 });
                Check(false, "noise level 9 was accepted");
            }
            catch (VoipChatException e)
            {
                Equal(ErrorCodes.InvalidArgument, e.ErrCode, "ErrCode for noise level 9");
                Check(e.ErrMsg.Contains("noise_suppression"), "ErrMsg: " + e.ErrMsg);
            }
            Check(VoipChat.StatsJson().Contains("\"noiseSuppression\":\"veryHigh\""), "a refused setting changes nothing");
            VoipChat.SetAudioProcessing(new AudioProcessing());
            Check(VoipChat.StatsJson().Contains("\"noiseSuppression\":\"moderate\""), "back to the defaults: " + VoipChat.StatsJson());
        }

        static void SecondClientProcess()
        {
            int mark = Mark();
            var lines = new ConcurrentQueue<string>();
            var errors = new ConcurrentQueue<string>();
            var start = new ProcessStartInfo
            {
                FileName = Process.GetCurrentProcess().MainModule.FileName,
                Arguments = string.Format("--debug \"{0}\" member 127.0.0.1:{1} {2} {3} {4} {5} bob", Assembly.GetEntryAssembly().Location, relay.Port, relay.CertSha256, AppId, Secret, group),
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using (Process child = Process.Start(start))
            {
                child.OutputDataReceived += (s, e) => { if (e.Data != null) lines.Enqueue(e.Data); };
                child.ErrorDataReceived += (s, e) => { if (e.Data != null) errors.Enqueue(e.Data); };
                child.BeginOutputReadLine();
                child.BeginErrorReadLine();
                var said = new List<string>();
                Func<string, double, string> expect = (prefix, seconds) =>
                {
                    string found = null;
                    PumpUntil(() =>
                    {
                        string line;
                        while (found == null && lines.TryDequeue(out line))
                        {
                            said.Add(line);
                            if (line.StartsWith(prefix) || line.StartsWith("error"))
                            {
                                found = line;
                            }
                        }
                        return found != null || child.HasExited;
                    }, seconds);
                    if (found == null || !found.StartsWith(prefix))
                    {
                        throw new CheckFailed(string.Format("child: expected \"{0}\", got [{1}]; stderr: {2}", prefix, string.Join(" | ", said.ToArray()), string.Join(" | ", errors.ToArray())));
                    }
                    return found;
                };
                try
                {
                    Equal("joined alice,bob", expect("joined", 20), "the child's join result");
                    Check(PumpUntil(() => Since(mark, "members").Count > 0, 5), "members-changed after the child joined");
                    Seen joined = Since(mark, "members")[0];
                    SameList(new[] { "alice", "bob" }, joined.Result.OpenIdList, "members after bob joined");
                    Equal("onVoIPChatMembersChanged:ok", joined.Result.ErrMsg, "ErrMsg");
                    SameList(new[] { "alice", "bob" }, VoipChat.Members, "VoipChat.Members");

                    // Bob talks; alice pulls bob's voice alone (a 3D AudioSource's path).
                    int speaking = Mark();
                    child.StandardInput.WriteLine("speak");
                    child.StandardInput.Flush();
                    var bob = new MemberVoiceId("bob");
                    float[] heard = RunAudio(null, bob, () => !lines.IsEmpty || child.HasExited);
                    string spoke = expect("spoke", 5);
                    PumpUntil(() => { List<Seen> s = Since(speaking, "speakers"); return s.Count > 0 && s[s.Count - 1].Result.OpenIdList.Count == 0; }, 3);
                    List<Seen> speakers = Since(speaking, "speakers");
                    Check(speakers.Exists(s => new List<string>(s.Result.OpenIdList).Contains("bob")), "alice saw bob speaking: " + string.Join("; ", speakers.ConvertAll(s => s.ToString()).ToArray()));
                    Check(speakers.Count > 0 && speakers[speakers.Count - 1].Result.OpenIdList.Count == 0, "bob stopped speaking");
                    Check(spoke.Contains("[bob]"), "bob saw himself speaking: " + spoke);
                    double rms = Speech.Rms(heard, 0, heard.Length);
                    Check(rms > 0.01, string.Format("bob's voice through PullMember, rms {0:F4} over {1:F1} s", rms, heard.Length / (double)Speech.Rate));

                    int leaving = Mark();
                    child.StandardInput.WriteLine("exit");
                    child.StandardInput.Flush();
                    expect("bye", 10);
                    Check(PumpUntil(() => Since(leaving, "members").Count > 0, 5), "members-changed after the child left");
                    SameList(new[] { "alice" }, Since(leaving, "members")[0].Result.OpenIdList, "members after bob left");
                    Check(child.WaitForExit((int)(10000 * Scale)), "child exits");
                    Equal(0, child.ExitCode, "child exit code");
                    AllOnMainThread(mark);
                }
                finally
                {
                    if (!child.HasExited)
                    {
                        child.Kill();
                    }
                }
            }
        }

        static void EventsFollowThePollThread()
        {
            var stop = new ManualResetEvent(false);
            int driverThread = -1;
            var driver = new Thread(() =>
            {
                driverThread = Thread.CurrentThread.ManagedThreadId;
                while (!stop.WaitOne(5))
                {
                    VoipChat.Poll();
                }
            });
            driver.Start();
            try
            {
                var done = new ManualResetEvent(false);
                int callbackThread = -1, continuationThread = -1;
                VoipChat.UpdateMuteConfig(new MuteConfig(false, false), null, null, r => { callbackThread = Thread.CurrentThread.ManagedThreadId; done.Set(); });
                Check(done.WaitOne((int)(5000 * Scale)), "complete via the driver thread");
                Task<VoipChatResult> task = VoipChat.UpdateMuteConfigAsync(new MuteConfig(false, false));
                Task after = task.ContinueWith(t => continuationThread = Thread.CurrentThread.ManagedThreadId, TaskContinuationOptions.ExecuteSynchronously);
                Check(after.Wait((int)(5000 * Scale)), "the Task completes while another thread polls");
                Check(driverThread != mainThread, "the driver is another thread");
                Equal(driverThread, callbackThread, "callback thread");
                Equal(driverThread, continuationThread, "continuation thread");
            }
            finally
            {
                stop.Set();
                driver.Join();
            }
        }

        static void ExitRoom()
        {
            int mark = Mark();
            VoipChatResult result = Await(VoipChat.ExitAsync());
            Equal("exitVoIPChat:ok", result.ErrMsg, "ErrMsg");
            Check(PumpUntil(() => Since(mark, "state").Exists(s => s.State == VoipChatState.Left), 5), "LEFT state event");
            Equal(VoipChatState.Left, VoipChat.State, "state");
            Equal(0, VoipChat.Members.Count, "members");
            VoipChatException e = AwaitFailure(VoipChat.ExitAsync());
            Equal(ErrorCodes.NotInRoom, e.ErrCode, "second exit ErrCode");
            Equal("exitVoIPChat:fail not in a room", e.ErrMsg, "second exit ErrMsg");
            AllOnMainThread(mark);
        }

        static void RejoinUnicode()
        {
            string who = "\u00e9mile-\uD83D\uDE00", room = "\u623f\u95f4-" + group;
            JoinResult joined = Await(VoipChat.JoinAsync(DevJoinSigner.SignJoin(AppId, Secret, who, room)));
            SameList(new[] { who }, joined.OpenIdList, "openIdList round-trips UTF-8");
            var output = new float[Speech.Step];
            Equal(Speech.Step, VoipChat.PullMember(new MemberVoiceId(who), output, Speech.Step, Speech.Rate, 1), "PullMember with a non-ASCII id");
            Await(VoipChat.ExitAsync());
            JoinOptions bad = DevJoinSigner.SignJoin(AppId, Secret, "nul", room);
            bad.OpenId = "a\0b";
            try
            {
                VoipChat.JoinAsync(bad);
                throw new CheckFailed("an openId with a NUL was passed on");
            }
            catch (ArgumentException)
            {
            }
            Equal(0, VoipChat.PendingCallCount, "pending calls");
        }

        static void VideoInVoiceRoom()
        {
            var rgba = new byte[64 * 48 * 4];
            Equal(ErrorCodes.RoomTypeMismatch, VoipChat.PushVideoFrame(rgba, 64, 48, 64 * 4), "PushVideoFrame in a voice room");
            Check(VoipChat.LastErrorMessage().Length > 0, "a reason for -1006");
            Equal(ErrorCodes.RoomTypeMismatch, new VoipVideoSender().PushRgba(rgba, 64, 48, true), "VoipVideoSender in a voice room");
            int fail = 0, complete = 0;
            VoipChatResult failed = null;
            VoipChat.SubscribeVideoMembers(new[] { "bob" }, r => { throw new CheckFailed("success in a voice room"); }, r => { fail++; failed = r; }, r => complete++);
            Check(PumpUntil(() => complete > 0, 5), "complete");
            Pump(0.1);
            Equal(1, fail, "fail calls");
            Equal(1, complete, "complete calls");
            Equal(ErrorCodes.RoomTypeMismatch, failed.ErrCode, "fail ErrCode (" + failed.ErrMsg + ")");
            Check(failed.ErrMsg.StartsWith("subscribeVoIPVideoMembers:fail"), "ErrMsg: " + failed.ErrMsg);
            VoipChatException e = AwaitFailure(VoipChat.SubscribeVideoMembersAsync(new[] { "bob" }));
            Equal(ErrorCodes.RoomTypeMismatch, e.ErrCode, "SubscribeVideoMembersAsync ErrCode");
            var receiver = new VoipVideoReceiver("alice");
            Check(!receiver.Pull(), "nothing to pull in a voice room");
            Equal(0, receiver.LastCode, "the pull's code");
            Equal(0UL, receiver.Sequence, "sequence");
            Equal(0, VoipChat.PendingCallCount, "pending calls");
        }

        static string VideoRoomName()
        {
            return "video-" + group;
        }

        static void JoinVideoRoom(string who)
        {
            JoinOptions options = DevJoinSigner.SignJoin(AppId, Secret, who, VideoRoomName());
            options.RoomType = RoomType.Video;
            JoinResult joined = Await(VoipChat.JoinAsync(options));
            SameList(new[] { who }, joined.OpenIdList, "the video room's members");
        }

        static void ExpectBadFrame(int code, string needle, string what)
        {
            string reason = VoipChat.LastErrorMessage();
            Equal(ErrorCodes.InvalidArgument, code, what + " (" + reason + ")");
            Check(reason.Contains(needle), what + ": the reason names \"" + needle + "\": " + reason);
        }

        static void ExpectThrows<T>(Action call, string what) where T : Exception
        {
            try
            {
                call();
            }
            catch (T)
            {
                return;
            }
            throw new CheckFailed(what + ": no " + typeof(T).Name);
        }

        static void BadVideoFrames()
        {
            JoinVideoRoom("alice");
            var rgba = new byte[64 * 48 * 4];
            ExpectBadFrame(VoipChat.PushVideoFrame(rgba, 0, 48, 64 * 4), "size", "a zero width");
            ExpectBadFrame(VoipChat.PushVideoFrame(rgba, 64, 0, 64 * 4), "size", "a zero height");
            ExpectBadFrame(VoipChat.PushVideoFrame(rgba, 64, 48, 64 * 4 - 4), "stride", "a stride shorter than a row");
            ExpectBadFrame(VoipChat.PushVideoFrame(IntPtr.Zero, 64, 48, 64 * 4), "NULL", "a NULL plane");
            var huge = new byte[4000 * 2 * 4];
            ExpectBadFrame(VoipChat.PushVideoFrame(huge, 4000, 2, 4000 * 4), "4000", "a 4000-pixel row (more than 1920)");
            var y = new byte[64 * 48];
            var chroma = new byte[32 * 24];
            ExpectBadFrame(VoipChat.PushVideoFrameI420(y, 64, chroma, 16, chroma, 32, 64, 48), "stride", "an I420 U stride shorter than half a row");
            var raw = new Native.VoipVideoFrame { format = 7, width = 64, height = 48, strides0 = 256 };
            GCHandle pin = GCHandle.Alloc(rgba, GCHandleType.Pinned);
            try
            {
                raw.planes0 = pin.AddrOfPinnedObject();
                ExpectBadFrame(Native.voip_video_push_frame(ref raw), "format", "an unknown pixel format");
            }
            finally
            {
                pin.Free();
            }
            // An array shorter than the frame says never reaches native code.
            ExpectThrows<ArgumentException>(() => VoipChat.PushVideoFrame(rgba, 64, 49, 64 * 4), "an array one row short");
            ExpectThrows<ArgumentException>(() => new VoipVideoSender().PushRgba(new int[64 * 47], 64, 48, true), "an int[] one row short");
            ExpectThrows<ArgumentOutOfRangeException>(() => VoipChat.PushVideoFrame(rgba, -1, 48, 64 * 4), "a negative width");
            // And a good frame is taken (alone in the room, it goes nowhere).
            Equal(0, VoipChat.PushVideoFrame(rgba, 64, 48, 64 * 4), "a good 64x48 frame: " + VoipChat.LastErrorMessage());
            Equal(0, VoipChat.PushVideoFrameI420(y, 64, chroma, 32, chroma, 32, 64, 48), "a good I420 frame: " + VoipChat.LastErrorMessage());
        }

        /// <summary>The pixel at (x, y) of a tightly packed RGBA picture, as "r,g,b".</summary>
        static int[] PixelAt(byte[] rgba, int width, int x, int y)
        {
            int i = (y * width + x) * 4;
            return new[] { (int)rgba[i], (int)rgba[i + 1], (int)rgba[i + 2] };
        }

        static bool SameBytes(byte[] a, byte[] b)
        {
            if (a == null || b == null || a.Length != b.Length)
            {
                return false;
            }
            for (int i = 0; i < a.Length; i++)
            {
                if (a[i] != b[i])
                {
                    return false;
                }
            }
            return true;
        }

        static bool Reddish(int[] p)
        {
            return p[0] > 150 && p[2] < 110;
        }

        static bool Bluish(int[] p)
        {
            return p[2] > 150 && p[0] < 110;
        }

        static string Show(int[] p)
        {
            return "(" + p[0] + "," + p[1] + "," + p[2] + ")";
        }

        static void VideoRoom()
        {
            // Alice is in the video room since BadVideoFrames.
            Check(VoipChat.State == VoipChatState.Joined, "alice is in the video room");
            int mark = Mark();
            using (var bob = new ChildMember(relay, AppId, Secret, VideoRoomName(), "bob", "video"))
            {
                Equal("joined alice,bob", bob.Expect("joined", 20), "the child's join result");
                Check(PumpUntil(() => Since(mark, "members").Count > 0, 5), "members-changed after bob joined");

                // Subscribing, callback style: success then complete, once each.
                int success = 0, fail = 0, complete = 0;
                VoipChatResult subscribed = null;
                Equal(0, VoipChat.SubscribeVideoMembers(new[] { "bob" }, r => { success++; subscribed = r; }, r => fail++, r => complete++), "SubscribeVideoMembers accepted");
                Check(PumpUntil(() => complete > 0, 5), "the subscription completes");
                Pump(0.1);
                Equal(1, success, "success calls");
                Equal(0, fail, "fail calls");
                Equal(1, complete, "complete calls");
                Equal("subscribeVoIPVideoMembers:ok", subscribed.ErrMsg, "ErrMsg");

                // Both push (bob 320x240, alice 640x480; bottom-up as Unity's pixels are) and
                // pull the other, once per "frame", as a game loop would.
                bob.Send("camera");
                var sender = new VoipVideoSender();
                byte[] aliceFrame = MemberProcess.RedOverBlueBottomUp(640, 480);
                var upright = new VoipVideoReceiver("bob");
                var forUnity = new VoipVideoReceiver("bob", bottomUp: true);
                var sequences = new List<ulong>();
                int pushed = 0;
                byte[] firstPixels = null;
                var frames = new FrameEvents("bob");
                int mostInOnePoll = 0;
                ulong beforeStall = 0, afterStall = 0;
                bool stalled = false;
                var watch = Stopwatch.StartNew();
                for (int n = 0; !bob.HasAnswer && watch.Elapsed.TotalSeconds < 30 * Scale; n++)
                {
                    if (!stalled && frames.Count >= 3)
                    {
                        // A slow poller: 0.6 s without Poll (bob sends ~9 pictures meanwhile);
                        // the next Poll delivers bob's latest picture once, not a backlog.
                        stalled = true;
                        beforeStall = frames.Last;
                        Thread.Sleep(600);
                        int stallBefore = frames.Count;
                        VoipChat.Poll();
                        Equal(stallBefore + 1, frames.Count, "one VideoFrameReceived for bob in the Poll after the stall");
                        afterStall = frames.Last;
                    }
                    int code = sender.PushRgba(aliceFrame, 640, 480, true);
                    Equal(0, code, "alice's push: " + VoipChat.LastErrorMessage());
                    pushed++;
                    if (upright.Pull())
                    {
                        sequences.Add(upright.Sequence);
                        if (firstPixels == null)
                        {
                            firstPixels = upright.Pixels;
                        }
                    }
                    forUnity.Pull();
                    int before = frames.Count;
                    VoipChat.Poll();
                    mostInOnePoll = Math.Max(mostInOnePoll, frames.Count - before);
                    MemberProcess.SleepUntil(watch, (n + 1) * 1000 / 15);
                }
                string camera = bob.Expect("camera", 5);
                Pump(0.5);
                frames.Dispose();

                // What alice saw of bob.
                Check(sequences.Count >= 5, string.Format("alice saw {0} pictures of bob: [{1}]", sequences.Count, string.Join(",", sequences.ConvertAll(q => q.ToString()).ToArray())));
                for (int i = 1; i < sequences.Count; i++)
                {
                    Check(sequences[i] > sequences[i - 1], "sequence grows: " + string.Join(",", sequences.ConvertAll(q => q.ToString()).ToArray()));
                }
                Equal(640, upright.Width, "picture width (the SDK's send size)");
                Equal(360, upright.Height, "picture height");
                Equal(640 * 360 * 4, upright.Pixels.Length, "Pixels is tightly packed");
                Check(ReferenceEquals(firstPixels, upright.Pixels), "the receiver reuses its buffer while the size stays");
                int[] top = PixelAt(upright.Pixels, 640, 320, 60), bottom = PixelAt(upright.Pixels, 640, 320, 300);
                Check(Reddish(top) && Bluish(bottom), "bob's picture arrives upright (red over blue): top " + Show(top) + ", bottom " + Show(bottom));
                int[] unityFirstRow = PixelAt(forUnity.Pixels, 640, 320, 10), unityLastRow = PixelAt(forUnity.Pixels, 640, 320, 350);
                Check(Bluish(unityFirstRow) && Reddish(unityLastRow), "bottomUp: the bottom row comes first, as LoadRawTextureData wants: first " + Show(unityFirstRow) + ", last " + Show(unityLastRow));
                Check(forUnity.Sequence > 0 && forUnity.Width == 640, "the Unity-order receiver pulled too");
                Check(!upright.Pull() || upright.Sequence > sequences[sequences.Count - 1], "pulling again gives nothing older");

                // The same pictures as VideoFrameReceived events.
                Check(frames.Count >= 5, "alice had VideoFrameReceived for bob: " + frames.Report());
                Check(frames.Ordered, "the events' sequence grows: " + frames.Report());
                Equal(0, frames.WrongSize, "events not 640x360 with 640x360 / 320x180 planes (" + frames.Report() + ")");
                Equal(0, frames.WrongThread, "events off the poll thread");
                Equal(0, frames.FromOthers, "events from members alice does not receive");
                Equal(1, mostInOnePoll, "the most VideoFrameReceived for bob in one Poll");
                Check(stalled && afterStall >= beforeStall + 2, string.Format("after the stall the event has bob's latest picture: {0} -> {1}", beforeStall, afterStall));
                Check(ReferenceEquals(frames.FirstRgba, frames.Rgba), "ToRgba reuses a buffer of the right size");
                int[] eventTop = PixelAt(frames.Rgba, 640, 320, 60), eventBottom = PixelAt(frames.Rgba, 640, 320, 300);
                Check(Reddish(eventTop) && Bluish(eventBottom), "the event's picture is upright (red over blue): top " + Show(eventTop) + ", bottom " + Show(eventBottom));
                forUnity.Pull();
                Equal(frames.Last, upright.Sequence, "the last event's picture is the last pulled");
                Equal(frames.Last, forUnity.Sequence, "the last event's picture is the last pulled (bottomUp)");
                Check(SameBytes(upright.Pixels, frames.Rgba), "VideoFrame.ToRgba gives the SDK's RGBA, byte for byte");
                Check(SameBytes(forUnity.Pixels, frames.RgbaBottomUp), "VideoFrame.ToRgba(bottomUp) gives the bottomUp receiver's pixels, byte for byte");

                // What bob saw of alice (its report: "camera pushed=N failed=F alice=WxH pictures=P ordered=...").
                Check(camera.Contains("failed=0") && camera.Contains("alice=640x360") && camera.Contains(" ordered=true"), "bob's report: " + camera);
                Match pictures = Regex.Match(camera, @"pictures=(\d+)");
                Check(pictures.Success && int.Parse(pictures.Groups[1].Value) >= 5, "bob saw alice's pictures: " + camera);
                Match frameEvents = Regex.Match(camera, @"frames=(\d+)");
                Check(frameEvents.Success && int.Parse(frameEvents.Groups[1].Value) >= 5, "bob had VideoFrameReceived for alice: " + camera);
                Check(camera.Contains("frames-ordered=true") && camera.Contains("frames-640x360=true") && camera.Contains("frames-on-poll-thread=true"), "bob's events: " + camera);

                // The video members event: both published; once both stop, about a second
                // later, neither does.
                Check(Since(mark, "video").Exists(v => new List<string>(v.Result.OpenIdList).Contains("bob")), "video-members-changed listed bob: " + string.Join("; ", Since(mark, "video").ConvertAll(v => v.ToString()).ToArray()));
                Seen first = Since(mark, "video").Find(v => v.Result.OpenIdList.Count > 0);
                Equal("onVoIPVideoMembersChanged:ok", first.Result.ErrMsg, "ErrMsg");
                Check(PumpUntil(() => { List<Seen> v = Since(mark, "video"); return v.Count > 0 && v[v.Count - 1].Result.OpenIdList.Count == 0; }, 5),
                    "video-members-changed empties after both stop: " + string.Join("; ", Since(mark, "video").ConvertAll(v => v.ToString()).ToArray()));
                Equal(0, VoipChat.VideoMembers.Count, "VoipChat.VideoMembers");

                // Subscribing to nobody, promise style.
                VoipChatResult none = Await(VoipChat.SubscribeVideoMembersAsync(new string[0]));
                Equal("subscribeVoIPVideoMembers:ok", none.ErrMsg, "subscribing to nobody");

                bob.Exit();
                AllOnMainThread(mark);
            }
            Await(VoipChat.ExitAsync());
            Equal(ErrorCodes.NotInRoom, VoipChat.PushVideoFrame(new byte[64 * 48 * 4], 64, 48, 64 * 4), "PushVideoFrame after leaving");
            Equal(0, VoipChat.PendingCallCount, "pending calls");
        }

        static void ShutdownDuringJoin()
        {
            VoipChat.Shutdown();
            Check(!VoipChat.IsInitialized, "shut down");
            // A server that never answers: the join stays in progress.
            VoipChat.Initialize(new VoipChatConfig { Server = "127.0.0.1:9", AudioMode = AudioMode.External, ConnectTimeoutMs = 30000, LogLevel = LogLevel.Error });
            Task<JoinResult> join = VoipChat.JoinAsync(DevJoinSigner.SignJoin(AppId, Secret, "zoe", group));
            Pump(0.3);
            Check(!join.IsCompleted, "the join is still in progress");
            Equal(1, VoipChat.PendingCallCount, "one pending call");
            VoipChat.Shutdown();
            Check(join.IsCompleted, "the join completed during Shutdown, on its caller's thread");
            VoipChatException e = AwaitFailure(join, 0.1);
            Equal(ErrorCodes.LeftWhileJoining, e.ErrCode, "ErrCode (" + e.ErrMsg + ")");
            Equal(0, VoipChat.PendingCallCount, "pending calls");
        }

        // Raw callbacks for the domain test: the root domain talks to the C ABI directly, with
        // no listener of its own, so a listener left behind by the unloaded domain would be called.
        static readonly Native.VoipResultFn RawCompleteFn = RawComplete;
        static VoipChatResult rawResult;

        [MonoPInvokeCallback(typeof(Native.VoipResultFn))]
        static void RawComplete(IntPtr result, IntPtr userData)
        {
            var r = (Native.VoipResult)Marshal.PtrToStructure(result, typeof(Native.VoipResult));
            string[] ids = r.open_id_list == IntPtr.Zero ? new string[0] : Utf8.ListFromNative(r.open_id_list, r.open_id_count);
            rawResult = new VoipChatResult(r.err_code, Utf8.FromNative(r.err_msg), ids);
        }

        /// <summary>
        /// Runs the scenario in a fresh process (`domain-reload` mode): if a callback reached the
        /// unloaded domain, that process crashes, and this test reports it instead of dying.
        /// </summary>
        static void DomainUnload()
        {
            VoipChat.Shutdown();
            var start = new ProcessStartInfo
            {
                FileName = Process.GetCurrentProcess().MainModule.FileName,
                Arguments = string.Format("--debug \"{0}\" domain-reload", Assembly.GetEntryAssembly().Location),
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using (Process child = Process.Start(start))
            {
                Task<string> stdout = child.StandardOutput.ReadToEndAsync();
                Task<string> stderr = child.StandardError.ReadToEndAsync();
                bool exited = child.WaitForExit((int)(60000 * Scale));
                if (!exited)
                {
                    child.Kill();
                }
                string output = (stdout.Wait(5000) ? stdout.Result : "") + (stderr.Wait(5000) ? stderr.Result : "");
                Check(exited, "the domain-reload process hung: " + output);
                Check(child.ExitCode == 0 && output.Contains("domain-reload ok"),
                    string.Format("the domain-reload process exited {0}{1}: {2}", child.ExitCode,
                        child.ExitCode > 128 ? " (killed by signal " + (child.ExitCode - 128) + ": a native callback reached the unloaded domain?)" : "",
                        output.Trim()));
            }
        }

        /// <summary>The `domain-reload` process: exits 0 and prints "domain-reload ok" when all holds.</summary>
        public static int DomainReloadProcess()
        {
            Console.SetOut(new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true });
            group = "unity-reload-" + Process.GetCurrentProcess().Id;
            relay = VoipChatRelay.Start(new RelayOptions { Apps = new[] { new RelayApp(AppId, Secret) } });
            try
            {
                DomainUnloadScenario();
                Console.WriteLine("domain-reload ok");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine("domain-reload failed: " + (e is CheckFailed ? e.Message : e.ToString()));
                return 1;
            }
            finally
            {
                relay.Dispose();
            }
        }

        static void DomainUnloadScenario()
        {
            string room = group + "-reload";
            AppDomain reloaded = AppDomain.CreateDomain("script-reload", null, AppDomain.CurrentDomain.SetupInformation);
            var scenario = (DomainScenario)reloaded.CreateInstanceAndUnwrap(typeof(DomainScenario).Assembly.FullName, typeof(DomainScenario).FullName);
            Equal("script-reload", scenario.DomainName(), "the scenario runs in the second domain");
            SameList(new[] { "carol" }, scenario.JoinAndStay("127.0.0.1:" + relay.Port, relay.CertSha256, AppId, Secret, room, "carol"), "carol's join");
            AppDomain.Unload(reloaded);

            // The native SDK is process-wide: carol's session must be gone, and with it every
            // callback into her domain. dave joins carol's room through the raw C ABI.
            Native.VoipConfig config = Native.voip_config_default();
            using (var memory = new NativeAllocations())
            {
                config.server = memory.String("127.0.0.1:" + relay.Port);
                config.server_cert_sha256 = memory.String(relay.CertSha256);
                config.dispatch = Native.VOIP_DISPATCH_POLL;
                config.audio_mode = Native.VOIP_AUDIO_EXTERNAL;
                Equal(0, Native.voip_init(ref config), "voip_init after the unload (the unloaded domain shut the SDK down): " + VoipChat.LastErrorMessage());
            }
            try
            {
                JoinOptions o = DevJoinSigner.SignJoin(AppId, Secret, "dave", room);
                rawResult = null;
                using (var memory = new NativeAllocations())
                {
                    var p = new Native.VoipJoinParams
                    {
                        app_id = memory.String(o.AppId),
                        open_id = memory.String(o.OpenId),
                        group_id = memory.String(o.GroupId),
                        nonce_str = memory.String(o.NonceStr),
                        time_stamp = o.TimeStamp,
                        signature = memory.String(o.Signature),
                        room_type = Native.VOIP_ROOM_VOICE,
                    };
                    var callbacks = new Native.VoipCallbacks { complete = Marshal.GetFunctionPointerForDelegate(RawCompleteFn) };
                    Equal(0, Native.voip_join(ref p, callbacks, IntPtr.Zero), "voip_join");
                }
                // Polling runs the state-changed events (JOINING, JOINED): a listener left
                // pointing into the unloaded domain would be called here.
                var watch = Stopwatch.StartNew();
                while (rawResult == null && watch.Elapsed.TotalSeconds < 10 * Scale)
                {
                    Native.voip_poll();
                    Thread.Sleep(5);
                }
                Check(rawResult != null, "dave's join completes");
                Equal(0, rawResult.ErrCode, "dave's join: " + rawResult.ErrMsg);
                SameList(new[] { "dave" }, rawResult.OpenIdList, "dave's room (carol left when her domain unloaded)");
                Thread.Sleep(200);
                Native.voip_poll();
            }
            finally
            {
                Native.voip_shutdown();
            }
        }

        static void InterruptedByRelayStop()
        {
            VoipChatRelay going = VoipChatRelay.Start(new RelayOptions { Apps = new[] { new RelayApp(AppId, Secret) } });
            try
            {
                VoipChat.Initialize(ConfigFor(going));
                JoinResult joined = Await(VoipChat.JoinAsync(DevJoinSigner.SignJoin(AppId, Secret, "erin", group)));
                SameList(new[] { "erin" }, joined.OpenIdList, "erin's join");
                int mark = Mark();
                // A handler may shut the SDK down from inside the delivery (re-entrantly).
                bool shutDownInHandler = false;
                Action<VoipChatResult> shutDown = why => { VoipChat.Shutdown(); shutDownInHandler = !VoipChat.IsInitialized; };
                VoipChat.Interrupted += shutDown;
                going.Dispose();
                Check(PumpUntil(() => Since(mark, "interrupted").Count > 0, 10), "interrupted");
                VoipChat.Interrupted -= shutDown;
                Check(shutDownInHandler, "Shutdown from inside the Interrupted handler");
                VoipChatResult r = Since(mark, "interrupted")[0].Result;
                Equal(ErrorCodes.ServerShuttingDown, r.ErrCode, "Interrupted ErrCode (" + r.ErrMsg + ")");
                Check(PumpUntil(() => Since(mark, "state").Exists(s => s.State == VoipChatState.Left), 5), "LEFT state event");
                Check(Since(mark, "state").Find(s => s.State == VoipChatState.Left).Json.Contains("-1009"), "LEFT JSON carries the code");
                Equal(0, VoipChat.Members.Count, "members");
                AllOnMainThread(mark);
            }
            finally
            {
                going.Dispose();
                VoipChat.Shutdown();
            }
        }

        static void AfterShutdown()
        {
            VoipChat.Shutdown();
            VoipChat.Shutdown();
            Equal(0, VoipChat.Poll(), "Poll after Shutdown");
            Equal(0, VoipChat.PendingCallCount, "pending calls");
            Equal(VoipChatState.Idle, VoipChat.State, "state");
            var silence = new float[Speech.Step];
            Equal(ErrorCodes.InvalidArgument, VoipChat.PushCapture(silence, Speech.Step, Speech.Rate, 1), "PushCapture without the SDK");
            Check(VoipChat.LastErrorMessage().Contains("VOIP_AUDIO_EXTERNAL"), "reason: " + VoipChat.LastErrorMessage());
            Equal(ErrorCodes.InvalidArgument, VoipChat.PushVideoFrame(new byte[16 * 16 * 4], 16, 16, 64), "PushVideoFrame without the SDK");
            Check(VoipChat.LastErrorMessage().Contains("not initialized"), "reason: " + VoipChat.LastErrorMessage());
            var nobody = new VoipVideoReceiver("nobody");
            Check(!nobody.Pull() && nobody.LastCode == ErrorCodes.InvalidArgument, "a pull without the SDK: " + nobody.LastCode);
            try
            {
                VoipChat.PullPlayback(silence, Speech.Step * 2, Speech.Rate, 1);
                throw new CheckFailed("a buffer smaller than frames * channels was accepted");
            }
            catch (ArgumentOutOfRangeException)
            {
                // Checked in C#, before native code could write past the array.
            }
        }
    }
}
