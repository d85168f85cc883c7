// The second client: the library holds one SDK client per process, so the test program starts
// itself again as `member ...` to put a second player in the room. It talks to its parent
// over stdin/stdout, one line per message:
//   child -> parent: "joined a,b"   "spoke <speaker lists seen>"   "camera <what it saw>"
//                    (pulled pictures and VideoFrameReceived events)
//                    "bye"          "error <reason>"
//   parent -> child: "speak"        "camera" (video rooms)        "exit"
// A trailing argument "video" joins a video room instead of a voice room.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using VoipChatSdk.DevelopmentOnly;

namespace VoipChatSdk.Tests
{
    static class MemberProcess
    {
        static readonly ConcurrentQueue<string> Commands = new ConcurrentQueue<string>();
        static volatile bool stdinClosed;

        public static int Run(string[] args)
        {
            Console.SetOut(new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true });
            if (args.Length != 7 && !(args.Length == 8 && args[7] == "video"))
            {
                Console.WriteLine("error usage: member SERVER PIN APP_ID APP_SECRET GROUP OPEN_ID [video]");
                return 2;
            }
            string server = args[1], pin = args[2], appId = args[3], secret = args[4], group = args[5], openId = args[6];
            RoomType roomType = args.Length == 8 ? RoomType.Video : RoomType.Voice;
            var reader = new Thread(() =>
            {
                string line;
                while ((line = Console.In.ReadLine()) != null)
                {
                    Commands.Enqueue(line.Trim());
                }
                stdinClosed = true;
            });
            reader.IsBackground = true;
            reader.Start();
            var speakerLists = new List<string>();
            VoipChat.SpeakersChanged += r => speakerLists.Add("[" + string.Join(",", new List<string>(r.OpenIdList).ToArray()) + "]");
            try
            {
                VoipChat.Initialize(new VoipChatConfig
                {
                    Server = server,
                    ServerCertSha256 = pin,
                    AudioMode = AudioMode.External,
                    LogLevel = LogLevel.Warn,
                });
                JoinOptions join = DevJoinSigner.SignJoin(appId, secret, openId, group);
                join.RoomType = roomType;
                JoinResult joined = Harness.Await(VoipChat.JoinAsync(join), 15);
                Console.WriteLine("joined " + string.Join(",", new List<string>(joined.OpenIdList).ToArray()));
                var watch = Stopwatch.StartNew();
                var silence = new float[Speech.Step];
                while (watch.Elapsed.TotalSeconds < 120)
                {
                    string command;
                    if (Commands.TryDequeue(out command))
                    {
                        if (command == "speak")
                        {
                            speakerLists.Clear();
                            Talk(Speech.Script(0.5, 1.5, 0.8, 170.0));
                            Console.WriteLine("spoke " + string.Join(" ", speakerLists.ToArray()));
                        }
                        else if (command == "camera")
                        {
                            Console.WriteLine("camera " + Camera());
                        }
                        else if (command == "exit")
                        {
                            Harness.Await(VoipChat.ExitAsync(), 10);
                            VoipChat.Shutdown();
                            Console.WriteLine("bye");
                            return 0;
                        }
                    }
                    else if (stdinClosed)
                    {
                        VoipChat.Shutdown();
                        return 3;
                    }
                    // Like a game between commands: the audio thread keeps feeding silence.
                    VoipChat.PushCapture(silence, Speech.Step, Speech.Rate, 1);
                    VoipChat.Poll();
                    Thread.Sleep(10);
                }
                Console.WriteLine("error no command for 120 s");
                VoipChat.Shutdown();
                return 4;
            }
            catch (Exception e)
            {
                Console.WriteLine("error " + e.Message.Replace('\n', ' '));
                VoipChat.Shutdown();
                return 1;
            }
        }

        /// <summary>Width and height of the camera frames the child pushes (the SDK scales them to 640x360).</summary>
        public const int CameraWidth = 320;
        public const int CameraHeight = 240;

        /// <summary>
        /// A camera frame as Unity's GetPixels32 gives it, bottom row first: the picture's top
        /// half red, its bottom half blue, so a receiver can tell whether it arrived upright.
        /// </summary>
        public static byte[] RedOverBlueBottomUp(int width, int height)
        {
            var rgba = new byte[width * height * 4];
            for (int row = 0; row < height; row++)
            {
                bool pictureTop = height - 1 - row < height / 2; // row 0 is the picture's bottom
                for (int x = 0; x < width; x++)
                {
                    int i = (row * width + x) * 4;
                    rgba[i] = pictureTop ? (byte)230 : (byte)20;
                    rgba[i + 1] = 20;
                    rgba[i + 2] = pictureTop ? (byte)20 : (byte)230;
                    rgba[i + 3] = 255;
                }
            }
            return rgba;
        }

        /// <summary>
        /// Three seconds of "camera" at 15 fps through VoipVideoSender (bottom-up, as Unity's),
        /// while pulling alice's video as a game's frame loop would and counting her
        /// VideoFrameReceived events; reports what it saw: "pushed=N failed=F alice=WxH
        /// pictures=P ordered=true|false" and FrameEvents.Report().
        /// </summary>
        static string Camera()
        {
            byte[] frame = RedOverBlueBottomUp(CameraWidth, CameraHeight);
            var sender = new VoipVideoSender();
            var alice = new VoipVideoReceiver("alice");
            var events = new FrameEvents("alice");
            var silence = new float[Speech.Step];
            int pushed = 0, failed = 0, pictures = 0;
            ulong last = 0;
            bool ordered = true;
            string firstFailure = "";
            var watch = Stopwatch.StartNew();
            for (int n = 0; n < 45; n++)
            {
                int code = sender.PushRgba(frame, CameraWidth, CameraHeight, true);
                if (code == 0)
                {
                    pushed++;
                }
                else if (failed++ == 0)
                {
                    firstFailure = " first-failure=" + code + ":" + VoipChat.LastErrorMessage().Replace(' ', '_');
                }
                if (alice.Pull())
                {
                    pictures++;
                    ordered &= alice.Sequence > last;
                    last = alice.Sequence;
                }
                VoipChat.PushCapture(silence, Speech.Step, Speech.Rate, 1);
                VoipChat.Poll();
                SleepUntil(watch, (n + 1) * 1000 / 15);
            }
            events.Dispose();
            return string.Format("pushed={0} failed={1} alice={2}x{3} pictures={4} ordered={5} {6}{7}",
                pushed, failed, alice.Width, alice.Height, pictures, ordered ? "true" : "false", events.Report(), firstFailure);
        }

        /// <summary>Pushes the script in real time, 10 ms per step, polling as a game frame would.</summary>
        static void Talk(float[] script)
        {
            var chunk = new float[Speech.Step];
            var watch = Stopwatch.StartNew();
            for (int step = 0; step * Speech.Step < script.Length; step++)
            {
                Array.Clear(chunk, 0, chunk.Length);
                int from = step * Speech.Step;
                Array.Copy(script, from, chunk, 0, Math.Min(Speech.Step, script.Length - from));
                int code = VoipChat.PushCapture(chunk, Speech.Step, Speech.Rate, 1);
                if (code != 0)
                {
                    throw new Exception("PushCapture returned " + code + ": " + VoipChat.LastErrorMessage());
                }
                VoipChat.Poll();
                SleepUntil(watch, (step + 1) * 10);
            }
        }

        public static void SleepUntil(Stopwatch watch, long milliseconds)
        {
            long wait = milliseconds - watch.ElapsedMilliseconds;
            if (wait > 0)
            {
                Thread.Sleep((int)wait);
            }
        }
    }
}
