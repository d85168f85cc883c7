// Video rooms in plain C# (no UnityEngine), so the tests run it under Mono: camera frames into
// the SDK (voip_video_push_frame) and each member's latest picture out of it
// (voip_video_pull_frame) into a reusable buffer. Runtime/Unity/VoipVideo.cs is the thin
// engine side: a WebCamTexture in, a Texture2D / RawImage out.
//
// Row order. The SDK's pictures are top row first, as cameras and codecs have them. Unity's
// textures are bottom row first: WebCamTexture.GetPixels32 returns the bottom row first, and
// Texture2D.LoadRawTextureData expects it. VoipVideoSender(bottomUp: true) and
// VoipVideoReceiver(bottomUp: true) turn the rows over on the way (one copy of the picture,
// about 1 MB at 640x360), so neither side of the call sees the other upside down.
using System;
using System.Runtime.InteropServices;
using VoipChatSdk.Interop;

namespace VoipChatSdk
{
    /// <summary>How a frame's pixels are laid out.</summary>
    public enum PixelFormat
    {
        /// <summary>8 bits a channel, R G B A in that byte order (alpha ignored); one plane.</summary>
        Rgba = Native.VOIP_PIXEL_RGBA,

        /// <summary>Planar YUV 4:2:0: Y, then U and V at half width and height.</summary>
        I420 = Native.VOIP_PIXEL_I420,
    }

    /// <summary>
    /// Hands camera frames to the SDK in a video room: <c>voip_video_push_frame</c>, with the
    /// rows turned over first when the pixels are bottom-up (Unity's texture order). Any size up
    /// to 1920x1080; the SDK scales to 640x360, encodes (VP8) and sends, in about 2 ms, and
    /// copies the frame, so the array is free again on return. Use one sender from one thread.
    /// </summary>
    public sealed class VoipVideoSender
    {
        byte[] flipped = new byte[0];

        /// <summary>
        /// Pushes one RGBA frame: <paramref name="pixels"/> holds <paramref name="width"/> x
        /// <paramref name="height"/> pixels of 4 bytes (a <c>Color32[]</c>, an <c>int[]</c> or a
        /// <c>byte[]</c> of R G B A), rows tightly packed; <paramref name="bottomUp"/> when the
        /// first row is the picture's bottom (Unity's <c>GetPixels32</c>). Returns 0, -1001 for a
        /// bad frame (reason in <see cref="VoipChat.LastErrorMessage"/>), -1006 in a voice room,
        /// -1005 outside a call. Throws ArgumentException when the array is shorter than the
        /// size says, or its elements are not blittable.
        /// </summary>
        public int PushRgba<T>(T[] pixels, int width, int height, bool bottomUp) where T : struct
        {
            if (pixels == null)
            {
                throw new ArgumentNullException("pixels");
            }
            if (width < 0 || height < 0)
            {
                throw new ArgumentOutOfRangeException(width < 0 ? "width" : "height", "negative size");
            }
            long rowBytes = (long)width * 4;
            long bytes = rowBytes * height;
            if ((long)Marshal.SizeOf(typeof(T)) * pixels.Length < bytes)
            {
                throw new ArgumentException(string.Format("pixels holds fewer than {0}x{1} RGBA pixels", width, height), "pixels");
            }
            GCHandle pin = GCHandle.Alloc(pixels, GCHandleType.Pinned);
            try
            {
                IntPtr start = pin.AddrOfPinnedObject();
                if (!bottomUp || height < 2 || bytes > int.MaxValue)
                {
                    // Top-down already (or a size the SDK refuses anyway): no copy.
                    return VoipChat.PushVideoFrame(start, width, height, (int)Math.Min(rowBytes, int.MaxValue));
                }
                if (flipped.Length < bytes)
                {
                    flipped = new byte[bytes];
                }
                int row = (int)rowBytes;
                for (int y = 0; y < height; y++)
                {
                    Marshal.Copy(new IntPtr(start.ToInt64() + (long)(height - 1 - y) * row), flipped, y * row, row);
                }
                return VoipChat.PushVideoFrame(flipped, width, height, row);
            }
            finally
            {
                pin.Free();
            }
        }
    }

    /// <summary>
    /// One member's video: <see cref="Pull"/> copies the member's latest picture into
    /// <see cref="Pixels"/> (RGBA, rows tightly packed) only when it is newer than the one
    /// held, growing the buffer when the picture's size changes, so an engine uploads a texture
    /// only when <see cref="Pull"/> says so. Allocation-free while the size stays the same.
    /// </summary>
    public sealed class VoipVideoReceiver
    {
        readonly byte[] openIdUtf8;
        byte[] pixels = new byte[0];
        byte[] row = new byte[0];
        int capacityWidth;
        int capacityHeight;

        /// <param name="openId">The member whose video this receives.</param>
        /// <param name="bottomUp">
        /// Store the bottom row first, as <c>Texture2D.LoadRawTextureData</c> expects (Unity);
        /// false keeps the SDK's top-row-first order.
        /// </param>
        public VoipVideoReceiver(string openId, bool bottomUp = false)
        {
            if (openId == null)
            {
                throw new ArgumentNullException("openId");
            }
            OpenId = openId;
            openIdUtf8 = Utf8.NulTerminated(openId);
            BottomUp = bottomUp;
        }

        public string OpenId { get; private set; }

        /// <summary>Whether <see cref="Pixels"/> holds the bottom row first.</summary>
        public bool BottomUp { get; private set; }

        /// <summary>The picture held: Width x Height RGBA pixels; 0 x 0 before the first.</summary>
        public int Width { get; private set; }

        public int Height { get; private set; }

        /// <summary>The held picture's number (0: none yet); each decoded picture numbers one more.</summary>
        public ulong Sequence { get; private set; }

        /// <summary>
        /// The picture: exactly Width * Height * 4 bytes, R G B A. The same array while the size
        /// stays the same; a new one when it changes.
        /// </summary>
        public byte[] Pixels
        {
            get { return pixels; }
        }

        /// <summary>The last pull's code: 1 new picture, 0 nothing newer, or an error (-1001: reason in <see cref="VoipChat.LastErrorMessage"/>).</summary>
        public int LastCode { get; private set; }

        /// <summary>
        /// Copies the member's latest picture into <see cref="Pixels"/> when it is newer than
        /// the one held; true when it did (then upload it). False when there is nothing newer,
        /// outside a video call, or on an error (<see cref="LastCode"/>).
        /// </summary>
        public bool Pull()
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                int width, height;
                ulong sequence = Sequence;
                int code = VoipChat.PullVideoFrame(openIdUtf8, pixels, capacityWidth, capacityHeight, ref sequence, out width, out height);
                LastCode = code;
                if (code == 0)
                {
                    return false;
                }
                if (code == 1 && width == capacityWidth && height == capacityHeight)
                {
                    if (BottomUp)
                    {
                        FlipRows(width * 4, height);
                    }
                    Width = width;
                    Height = height;
                    Sequence = sequence;
                    return true;
                }
                bool tooSmall = code == ErrorCodes.InvalidArgument && (width > capacityWidth || height > capacityHeight);
                bool smaller = code == 1;
                if (!tooSmall && !smaller)
                {
                    return false;
                }
                // A picture of another size: a buffer of exactly its size (Pixels stays tightly
                // packed, as LoadRawTextureData wants), and the pull again.
                Resize(width, height);
            }
            return false;
        }

        void Resize(int width, int height)
        {
            capacityWidth = width;
            capacityHeight = height;
            pixels = new byte[(long)width * height * 4];
            Width = 0;
            Height = 0;
        }

        void FlipRows(int rowBytes, int height)
        {
            if (row.Length < rowBytes)
            {
                row = new byte[rowBytes];
            }
            for (int top = 0, bottom = height - 1; top < bottom; top++, bottom--)
            {
                Buffer.BlockCopy(pixels, top * rowBytes, row, 0, rowBytes);
                Buffer.BlockCopy(pixels, bottom * rowBytes, pixels, top * rowBytes, rowBytes);
                Buffer.BlockCopy(row, 0, pixels, bottom * rowBytes, rowBytes);
            }
        }
    }

    public static partial class VoipChat
    {
        // ---- video (a video room; any one thread for pushing, any thread for pulling) ------

        /// <summary>
        /// Pushes one RGBA frame, top row first: <paramref name="stride"/> bytes from one row to
        /// the next (at least width * 4). Returns 0, -1001 for a bad frame (zero or too large a
        /// size, a short stride; reason in <see cref="LastErrorMessage"/>), -1006 in a voice
        /// room, -1005 outside a call. Throws ArgumentException when the array is shorter than
        /// the frame. For bottom-up pixels (Unity's), use <see cref="VoipVideoSender"/>.
        /// </summary>
        public static int PushVideoFrame(byte[] rgba, int width, int height, int stride)
        {
            CheckPlane(rgba, width, height, stride, 4, "rgba");
            GCHandle pin = GCHandle.Alloc(rgba, GCHandleType.Pinned);
            try
            {
                return PushVideoFrame(pin.AddrOfPinnedObject(), width, height, stride);
            }
            finally
            {
                pin.Free();
            }
        }

        /// <summary>
        /// <see cref="PushVideoFrame(byte[],int,int,int)"/> from native memory (a NativeArray's
        /// pointer, say), which must hold stride * (height - 1) + width * 4 bytes.
        /// </summary>
        public static int PushVideoFrame(IntPtr rgba, int width, int height, int stride)
        {
            var frame = new Native.VoipVideoFrame
            {
                format = Native.VOIP_PIXEL_RGBA,
                width = (uint)Math.Max(0, width),
                height = (uint)Math.Max(0, height),
                planes0 = rgba,
                strides0 = (uint)Math.Max(0, stride),
            };
            return Native.voip_video_push_frame(ref frame);
        }

        /// <summary>
        /// Pushes one I420 frame: the Y plane (<paramref name="yStride"/> at least width), then
        /// U and V ((width + 1) / 2 wide, (height + 1) / 2 rows). Returns as
        /// <see cref="PushVideoFrame(byte[],int,int,int)"/>.
        /// </summary>
        public static int PushVideoFrameI420(byte[] y, int yStride, byte[] u, int uStride, byte[] v, int vStride, int width, int height)
        {
            int chromaWidth = (Math.Max(0, width) + 1) / 2, chromaHeight = (Math.Max(0, height) + 1) / 2;
            CheckPlane(y, width, height, yStride, 1, "y");
            CheckPlane(u, chromaWidth, chromaHeight, uStride, 1, "u");
            CheckPlane(v, chromaWidth, chromaHeight, vStride, 1, "v");
            GCHandle pinY = GCHandle.Alloc(y, GCHandleType.Pinned);
            GCHandle pinU = GCHandle.Alloc(u, GCHandleType.Pinned);
            GCHandle pinV = GCHandle.Alloc(v, GCHandleType.Pinned);
            try
            {
                var frame = new Native.VoipVideoFrame
                {
                    format = Native.VOIP_PIXEL_I420,
                    width = (uint)width,
                    height = (uint)height,
                    planes0 = pinY.AddrOfPinnedObject(),
                    planes1 = pinU.AddrOfPinnedObject(),
                    planes2 = pinV.AddrOfPinnedObject(),
                    strides0 = (uint)yStride,
                    strides1 = (uint)uStride,
                    strides2 = (uint)vStride,
                };
                return Native.voip_video_push_frame(ref frame);
            }
            finally
            {
                pinY.Free();
                pinU.Free();
                pinV.Free();
            }
        }

        /// <summary>
        /// The C ABI's pull, for <see cref="VoipVideoReceiver"/>: the member's latest picture
        /// into <paramref name="rgba"/> (capacity <paramref name="capacityWidth"/> x
        /// <paramref name="capacityHeight"/>, rows capacityWidth * 4 bytes apart) when its
        /// number differs from <paramref name="sequence"/>. Returns 1 (written; sequence, width
        /// and height updated), 0 (nothing newer), or -1001 (too small: width and height say
        /// the size needed; or another problem).
        /// </summary>
        internal static int PullVideoFrame(byte[] openIdUtf8, byte[] rgba, int capacityWidth, int capacityHeight, ref ulong sequence, out int width, out int height)
        {
            if ((long)capacityWidth * capacityHeight * 4 > rgba.Length)
            {
                throw new ArgumentException("the buffer is smaller than its capacity", "rgba");
            }
            GCHandle pin = GCHandle.Alloc(rgba, GCHandleType.Pinned);
            try
            {
                var frame = new Native.VoipVideoFrame
                {
                    format = Native.VOIP_PIXEL_RGBA,
                    width = (uint)capacityWidth,
                    height = (uint)capacityHeight,
                    planes0 = pin.AddrOfPinnedObject(),
                    strides0 = (uint)capacityWidth * 4,
                    sequence = sequence,
                };
                int code = Native.voip_video_pull_frame(openIdUtf8, ref frame);
                width = (int)frame.width;
                height = (int)frame.height;
                sequence = frame.sequence;
                return code;
            }
            finally
            {
                pin.Free();
            }
        }

        /// <summary>
        /// A plane the SDK will read: throws when the array is shorter than the size says
        /// (native code must never read past it). Zero sizes and short strides pass, for the
        /// SDK to refuse with -1001 and its reason.
        /// </summary>
        static void CheckPlane(byte[] plane, int width, int height, int stride, int bytesPerPixel, string name)
        {
            if (plane == null)
            {
                throw new ArgumentNullException(name);
            }
            if (width < 0 || height < 0 || stride < 0)
            {
                throw new ArgumentOutOfRangeException(name, "negative size or stride");
            }
            long rowBytes = (long)width * bytesPerPixel;
            long needed = height == 0 ? 0 : (long)Math.Max(stride, rowBytes) * (height - 1) + rowBytes;
            if (needed > plane.Length)
            {
                throw new ArgumentException(string.Format("{0} holds {1} bytes, the frame needs {2}", name, plane.Length, needed), name);
            }
        }
    }
}
