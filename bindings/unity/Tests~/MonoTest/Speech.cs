using System;

namespace VoipChatSdk.Tests
{
    /// <summary>Test signals (the same shape as the Rust tests' speech_like) and measurements.</summary>
    static class Speech
    {
        public const int Rate = 48000;
        public const int Step = Rate / 100; // 10 ms, what an engine's audio callback typically moves

        /// <summary>
        /// A harmonic voice whose pitch glides, shaped into syllables of about 200 ms with short
        /// gaps, at a talking level: loud and voiced enough for the SDK's voice activity detector.
        /// </summary>
        public static float[] Like(double seconds, double baseHz)
        {
            int n = (int)(seconds * Rate);
            var samples = new float[n];
            double phase = 0;
            for (int i = 0; i < n; i++)
            {
                double t = (double)i / Rate;
                double pitch = baseHz * (1.0 + 0.15 * Math.Sin(2 * Math.PI * 0.7 * t));
                phase += 2 * Math.PI * pitch / Rate;
                double voice = 0;
                for (int h = 1; h < 8; h++)
                {
                    voice += Math.Sin(phase * h) / h;
                }
                double slot = (t * 4.0) % 1.0;
                double envelope = slot < 0.8 ? Math.Pow(Math.Sin(Math.PI * slot / 0.8), 2) : 0.0;
                samples[i] = (float)(0.25 * voice * envelope);
            }
            return samples;
        }

        /// <summary>Silence, then speech, then silence: what a VAD needs to start and end a talkspurt.</summary>
        public static float[] Script(double silenceBefore, double speech, double silenceAfter, double baseHz)
        {
            float[] voice = Like(speech, baseHz);
            int before = (int)(silenceBefore * Rate);
            int after = (int)(silenceAfter * Rate);
            var all = new float[before + voice.Length + after];
            Array.Copy(voice, 0, all, before, voice.Length);
            return all;
        }

        public static double Rms(float[] x, int from, int count)
        {
            if (count <= 0)
            {
                return 0;
            }
            double sum = 0;
            for (int i = from; i < from + count; i++)
            {
                sum += (double)x[i] * x[i];
            }
            return Math.Sqrt(sum / count);
        }
    }
}
