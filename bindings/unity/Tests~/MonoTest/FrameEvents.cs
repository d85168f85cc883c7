// Counts VoipChat.VideoFrameReceived events from one member, for both processes of the video
// room test: how many, whether each sequence is larger than the last, the size, the thread,
// and the latest picture converted to RGBA (top-down and bottom-up) to compare with a pull.
using System;
using System.Threading;

namespace VoipChatSdk.Tests
{
    sealed class FrameEvents : IDisposable
    {
        readonly string from;
        readonly int pollThread;

        public int Count;
        public int FromOthers;
        public int WrongSize;
        public int WrongThread;
        public bool Ordered = true;
        public ulong Last;
        public string FirstProblem = "";

        /// <summary>The latest picture as RGBA, top row first, and bottom row first; both reused.</summary>
        public byte[] Rgba;
        public byte[] RgbaBottomUp;
        public byte[] FirstRgba;

        public FrameEvents(string from)
        {
            this.from = from;
            pollThread = Thread.CurrentThread.ManagedThreadId;
            VoipChat.VideoFrameReceived += OnFrame;
        }

        void OnFrame(VideoFrame frame)
        {
            if (frame.OpenId != from)
            {
                FromOthers++;
                return;
            }
            Count++;
            if (Thread.CurrentThread.ManagedThreadId != pollThread)
            {
                WrongThread++;
            }
            if (frame.Sequence <= Last)
            {
                Problem(string.Format("sequence {0} after {1}", frame.Sequence, Last));
                Ordered = false;
            }
            Last = frame.Sequence;
            if (frame.Width != 640 || frame.Height != 360 || frame.Y.Length != 640 * 360
                || frame.ChromaWidth != 320 || frame.ChromaHeight != 180 || frame.U.Length != 320 * 180 || frame.V.Length != 320 * 180)
            {
                Problem(string.Format("{0}x{1}, planes {2}/{3}/{4}", frame.Width, frame.Height, frame.Y.Length, frame.U.Length, frame.V.Length));
                WrongSize++;
            }
            Rgba = frame.ToRgba(Rgba);
            RgbaBottomUp = frame.ToRgba(RgbaBottomUp, true);
            if (FirstRgba == null)
            {
                FirstRgba = Rgba;
            }
        }

        void Problem(string what)
        {
            if (FirstProblem.Length == 0)
            {
                FirstProblem = " first-problem=" + what.Replace(' ', '_');
            }
        }

        /// <summary>"frames=N frames-ordered=true|false frames-640x360=true|false".</summary>
        public string Report()
        {
            return string.Format("frames={0} frames-ordered={1} frames-640x360={2} frames-on-poll-thread={3}{4}",
                Count, Ordered ? "true" : "false", WrongSize == 0 ? "true" : "false", WrongThread == 0 ? "true" : "false", FirstProblem);
        }

        public void Dispose()
        {
            VoipChat.VideoFrameReceived -= OnFrame;
        }
    }
}
