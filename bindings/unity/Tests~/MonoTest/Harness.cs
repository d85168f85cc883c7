// A small test harness for the Mono test program: named tests, checks, and pumping the poll
// driver (VoipChat.Poll) from the test's main thread while waiting.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using VoipChatSdk;

namespace VoipChatSdk.Tests
{
    sealed class CheckFailed : Exception
    {
        public CheckFailed(string message) : base(message)
        {
        }
    }

    static class Harness
    {
        public static int Passed;
        public static int Failed;

        /// <summary>Timeouts scale with VOIPCHAT_TEST_TIMEOUT_SCALE (e.g. on a loaded machine).</summary>
        public static readonly double Scale = ParseScale();

        static double ParseScale()
        {
            double scale;
            string text = Environment.GetEnvironmentVariable("VOIPCHAT_TEST_TIMEOUT_SCALE");
            return text != null && double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out scale) && scale > 0 ? scale : 1.0;
        }

        public static void Test(string name, Action body)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                body();
                Passed++;
                Console.WriteLine("PASS {0} ({1:F1} s)", name, watch.Elapsed.TotalSeconds);
            }
            catch (Exception e)
            {
                Failed++;
                Console.WriteLine("FAIL {0} ({1:F1} s): {2}", name, watch.Elapsed.TotalSeconds, e is CheckFailed ? e.Message : e.ToString());
            }
        }

        public static void Check(bool condition, string what)
        {
            if (!condition)
            {
                throw new CheckFailed(what);
            }
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
            {
                throw new CheckFailed(string.Format("{0}: expected {1}, got {2}", what, expected, actual));
            }
        }

        public static void SameList(IList<string> expected, IEnumerable<string> actual, string what)
        {
            var got = new List<string>(actual ?? new string[0]);
            bool same = got.Count == expected.Count;
            for (int i = 0; same && i < got.Count; i++)
            {
                same = got[i] == expected[i];
            }
            if (!same)
            {
                throw new CheckFailed(string.Format("{0}: expected [{1}], got [{2}]", what, string.Join(", ", new List<string>(expected).ToArray()), string.Join(", ", got.ToArray())));
            }
        }

        /// <summary>Calls the poll driver every 5 ms until <paramref name="done"/> or the timeout.</summary>
        public static bool PumpUntil(Func<bool> done, double seconds)
        {
            var watch = Stopwatch.StartNew();
            while (true)
            {
                VoipChat.Poll();
                if (done())
                {
                    return true;
                }
                if (watch.Elapsed.TotalSeconds > seconds * Scale)
                {
                    return false;
                }
                Thread.Sleep(5);
            }
        }

        public static void Pump(double seconds)
        {
            PumpUntil(() => false, seconds / Scale);
        }

        /// <summary>Pumps until the task completes; returns its result or throws its exception.</summary>
        public static T Await<T>(Task<T> task, double seconds = 10)
        {
            if (!PumpUntil(() => task.IsCompleted, seconds))
            {
                throw new CheckFailed("timed out waiting for a task");
            }
            return task.GetAwaiter().GetResult();
        }

        /// <summary>Pumps until the task fails with a VoipChatException, and returns it.</summary>
        public static VoipChatException AwaitFailure<T>(Task<T> task, double seconds = 10)
        {
            if (!PumpUntil(() => task.IsCompleted, seconds))
            {
                throw new CheckFailed("timed out waiting for a task");
            }
            try
            {
                T value = task.GetAwaiter().GetResult();
                throw new CheckFailed("expected the task to throw VoipChatException, it completed with " + value);
            }
            catch (VoipChatException e)
            {
                return e;
            }
        }
    }
}
