// The second client: the library holds one SDK client per process, so the test program starts
// itself again as `member ...` to put a second player in the room. It talks to its parent
// over stdin/stdout, one line per message:
//   child -> parent: "joined a,b"   "spoke <speaker lists seen>"   "bye"   "error <reason>"
//   parent -> child: "speak"        "exit"
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
            if (args.Length != 7)
            {
                Console.WriteLine("error usage: member SERVER PIN APP_ID APP_SECRET GROUP OPEN_ID");
                return 2;
            }
            string server = args[1], pin = args[2], appId = args[3], secret = args[4], group = args[5], openId = args[6];
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
                JoinResult joined = Harness.Await(VoipChat.JoinAsync(DevJoinSigner.SignJoin(appId, secret, openId, group)), 15);
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
