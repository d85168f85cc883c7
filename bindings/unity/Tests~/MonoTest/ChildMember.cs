// The parent's side of a second client process (MemberProcess.cs): starts it, sends it
// commands, and waits for its answers while pumping the poll driver.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Reflection;

namespace VoipChatSdk.Tests
{
    sealed class ChildMember : IDisposable
    {
        readonly Process child;
        readonly ConcurrentQueue<string> lines = new ConcurrentQueue<string>();
        readonly ConcurrentQueue<string> errors = new ConcurrentQueue<string>();
        readonly List<string> said = new List<string>();

        /// <summary>Starts `member SERVER PIN APP_ID SECRET GROUP OPEN_ID [extra]`.</summary>
        public ChildMember(VoipChatRelay relay, string appId, string secret, string group, string openId, string extra)
        {
            var start = new ProcessStartInfo
            {
                FileName = Process.GetCurrentProcess().MainModule.FileName,
                Arguments = string.Format("--debug \"{0}\" member 127.0.0.1:{1} {2} {3} {4} {5} {6} {7}",
                    Assembly.GetEntryAssembly().Location, relay.Port, relay.CertSha256, appId, secret, group, openId, extra ?? ""),
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            child = Process.Start(start);
            child.OutputDataReceived += (s, e) => { if (e.Data != null) lines.Enqueue(e.Data); };
            child.ErrorDataReceived += (s, e) => { if (e.Data != null) errors.Enqueue(e.Data); };
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
        }

        public bool HasAnswer
        {
            get { return !lines.IsEmpty || child.HasExited; }
        }

        public void Send(string command)
        {
            child.StandardInput.WriteLine(command);
            child.StandardInput.Flush();
        }

        /// <summary>Pumps until the child prints a line starting with <paramref name="prefix"/>; returns it.</summary>
        public string Expect(string prefix, double seconds)
        {
            string found = null;
            Harness.PumpUntil(() =>
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
        }

        /// <summary>Asks the child to leave and waits for it to exit cleanly.</summary>
        public void Exit()
        {
            Send("exit");
            Expect("bye", 10);
            Harness.Check(child.WaitForExit((int)(10000 * Harness.Scale)), "child exits");
            Harness.Equal(0, child.ExitCode, "child exit code");
        }

        public void Dispose()
        {
            if (!child.HasExited)
            {
                child.Kill();
            }
            child.Dispose();
        }
    }
}
