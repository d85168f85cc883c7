// UTF-8 across the boundary, by hand: the library speaks NUL-terminated UTF-8 only, and the
// default `string` marshalling is not UTF-8 everywhere (Windows .NET uses the ANSI code page).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace VoipChatSdk.Interop
{
    /// <summary>Conversions between C# strings and NUL-terminated UTF-8.</summary>
    public static class Utf8
    {
        static readonly UTF8Encoding NoBom = new UTF8Encoding(false, false);

        /// <summary>
        /// The string as NUL-terminated UTF-8, or null for null. As a P/Invoke <c>byte[]</c>
        /// argument the marshaller pins it for the call: no copy, nothing to free. Throws
        /// ArgumentException for a string with an embedded NUL (C would truncate it there).
        /// </summary>
        public static byte[] NulTerminated(string value)
        {
            if (value == null)
            {
                return null;
            }
            if (value.IndexOf('\0') >= 0)
            {
                // C would see only the text before it: refuse rather than silently truncate.
                throw new ArgumentException("a string passed to voipchat contains a NUL character");
            }
            var bytes = new byte[NoBom.GetByteCount(value) + 1];
            NoBom.GetBytes(value, 0, value.Length, bytes, 0);
            return bytes; // the last byte is already 0
        }

        /// <summary>Copies a NUL-terminated UTF-8 string out of native memory (null for NULL).</summary>
        public static string FromNative(IntPtr ptr)
        {
            if (ptr == IntPtr.Zero)
            {
                return null;
            }
            int length = 0;
            while (Marshal.ReadByte(ptr, length) != 0)
            {
                length++;
            }
            if (length == 0)
            {
                return string.Empty;
            }
            var bytes = new byte[length];
            Marshal.Copy(ptr, bytes, 0, length);
            return NoBom.GetString(bytes);
        }

        /// <summary>The text in a buffer a native call wrote, up to its first NUL.</summary>
        public static string FromBuffer(byte[] buffer)
        {
            int length = Array.IndexOf(buffer, (byte)0);
            if (length < 0)
            {
                length = buffer.Length;
            }
            return NoBom.GetString(buffer, 0, length);
        }

        /// <summary>
        /// Copies a native <c>const char *const *</c> array of <paramref name="count"/> strings.
        /// </summary>
        public static string[] ListFromNative(IntPtr list, UIntPtr count)
        {
            int n = checked((int)count.ToUInt64());
            var result = new string[n];
            for (int i = 0; i < n; i++)
            {
                result[i] = FromNative(Marshal.ReadIntPtr(list, i * IntPtr.Size));
            }
            return result;
        }
    }

    /// <summary>
    /// Native memory for the strings and small structs of one call (the pointers inside a
    /// <c>VoipJoinParams</c>, say). Everything is freed on Dispose, right after the call: the
    /// library copies what it keeps before returning.
    /// </summary>
    public sealed class NativeAllocations : IDisposable
    {
        readonly List<IntPtr> blocks = new List<IntPtr>();

        /// <summary>A NUL-terminated UTF-8 copy of the string; IntPtr.Zero for null.</summary>
        public IntPtr String(string value)
        {
            byte[] bytes = Utf8.NulTerminated(value);
            if (bytes == null)
            {
                return IntPtr.Zero;
            }
            IntPtr block = Allocate(bytes.Length);
            Marshal.Copy(bytes, 0, block, bytes.Length);
            return block;
        }

        /// <summary>A native copy of a struct.</summary>
        public IntPtr Struct<T>(T value) where T : struct
        {
            IntPtr block = Allocate(Marshal.SizeOf(typeof(T)));
            Marshal.StructureToPtr(value, block, false);
            return block;
        }

        /// <summary>A native array of structs, laid out one after another.</summary>
        public IntPtr Array<T>(T[] values) where T : struct
        {
            if (values == null || values.Length == 0)
            {
                return IntPtr.Zero;
            }
            int size = Marshal.SizeOf(typeof(T));
            IntPtr block = Allocate(size * values.Length);
            for (int i = 0; i < values.Length; i++)
            {
                Marshal.StructureToPtr(values[i], new IntPtr(block.ToInt64() + (long)i * size), false);
            }
            return block;
        }

        /// <summary>
        /// A native <c>const char *const *</c> array of NUL-terminated UTF-8 copies of the
        /// strings; IntPtr.Zero for an empty list.
        /// </summary>
        public IntPtr StringArray(IList<string> values)
        {
            if (values == null || values.Count == 0)
            {
                return IntPtr.Zero;
            }
            var pointers = new IntPtr[values.Count];
            for (int i = 0; i < pointers.Length; i++)
            {
                if (values[i] == null)
                {
                    throw new ArgumentNullException("values", "a null string in the list");
                }
                pointers[i] = String(values[i]);
            }
            IntPtr block = Allocate(IntPtr.Size * pointers.Length);
            Marshal.Copy(pointers, 0, block, pointers.Length);
            return block;
        }

        IntPtr Allocate(int bytes)
        {
            IntPtr block = Marshal.AllocHGlobal(Math.Max(bytes, 1));
            blocks.Add(block);
            return block;
        }

        public void Dispose()
        {
            foreach (IntPtr block in blocks)
            {
                Marshal.FreeHGlobal(block);
            }
            blocks.Clear();
        }
    }
}
