// Video rooms in plain C# (no UnityEngine), so the tests run it under Mono: camera frames into
// the SDK (voip_video_push_frame) and each member's latest picture out of it, either pulled
// (voip_video_pull_frame) into a reusable buffer or pushed (voip_on_video_frame) as the
// VoipChat.VideoFrameReceived event. Runtime/Unity/VoipVideo.cs is the thin engine side: a
// WebCamTexture in, a Texture2D / RawImage out.
//
// VideoFrameReceived. The native listener runs inside voip_poll (POLL dispatch, like every
// callback here), where the planes are valid: it copies them into the member's back buffer and
// queues one delivery per member; Poll() then swaps the member's front and back buffers and
// raises the event on the polling thread with the front one. A member's pictures that arrive
// before Poll delivers overwrite the back buffer, so a slow poller gets the latest, never a
// backlog (as the SDK itself does), and the handler's frame is never written while it runs.
//
// Row order. The SDK's pictures are top row first, as cameras and codecs have them. Unity's
// textures are bottom row first: WebCamTexture.GetPixels32 returns the bottom row first, and
// Texture2D.LoadRawTextureData expects it. VoipVideoSender(bottomUp: true) and
// VoipVideoReceiver(bottomUp: true) turn the rows over on the way (one copy of the picture,
// about 1 MB at 640x360), so neither side of the call sees the other upside down.
using System;
using System.Collections.Generic;
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

    /// <summary>
    /// A member's decoded picture, as <see cref="VoipChat.VideoFrameReceived"/> hands it over:
    /// I420 (planar YUV 4:2:0), top row first, copied out of the SDK. Valid only until the
    /// handler returns: the arrays are reused for that member's next pictures, so copy what you
    /// keep (<see cref="ToRgba"/> into your own buffer, or <c>Buffer.BlockCopy</c> the planes).
    /// </summary>
    public sealed class VideoFrame
    {
        static readonly byte[] Empty = new byte[0];

        internal VideoFrame(string openId)
        {
            OpenId = openId;
            Y = Empty;
            U = Empty;
            V = Empty;
        }

        /// <summary>The member whose picture this is.</summary>
        public string OpenId { get; private set; }

        /// <summary>The picture's size: 640x360 unless the sender was configured otherwise.</summary>
        public int Width { get; private set; }

        public int Height { get; private set; }

        /// <summary>The picture's number: each decoded picture of a member numbers one more (pictures a slow poller missed are skipped).</summary>
        public ulong Sequence { get; private set; }

        /// <summary>The U and V planes' size: (Width + 1) / 2 x (Height + 1) / 2.</summary>
        public int ChromaWidth
        {
            get { return (Width + 1) / 2; }
        }

        public int ChromaHeight
        {
            get { return (Height + 1) / 2; }
        }

        /// <summary>Luma: exactly Width * Height bytes, rows Width bytes apart.</summary>
        public byte[] Y { get; private set; }

        /// <summary>Blue-difference: exactly ChromaWidth * ChromaHeight bytes, rows ChromaWidth bytes apart.</summary>
        public byte[] U { get; private set; }

        /// <summary>Red-difference: as <see cref="U"/>.</summary>
        public byte[] V { get; private set; }

        /// <summary>
        /// The picture as RGBA (R G B A, alpha 255, rows Width * 4 bytes apart), converted as the
        /// SDK converts for <see cref="VoipVideoReceiver"/> (BT.601, video range), so both give
        /// the same pixels. Writes into <paramref name="rgba"/> when it holds exactly
        /// Width * Height * 4 bytes, otherwise into a new array of that size; returns the array
        /// written, so <c>buffer = frame.ToRgba(buffer, true)</c> allocates only when the size
        /// changes. <paramref name="bottomUp"/>: the bottom row first, as
        /// <c>Texture2D.LoadRawTextureData</c> expects. A few ms at 640x360 (one pass over the pixels).
        /// </summary>
        public byte[] ToRgba(byte[] rgba, bool bottomUp = false)
        {
            int w = Width, h = Height, cw = ChromaWidth;
            long bytes = (long)w * h * 4;
            if (rgba == null || rgba.Length != bytes)
            {
                rgba = new byte[bytes];
            }
            byte[] y = Y, u = U, v = V;
            for (int row = 0; row < h; row++)
            {
                int lumaRow = row * w, chromaRow = (row / 2) * cw;
                int o = (bottomUp ? h - 1 - row : row) * w * 4;
                for (int x = 0; x < w; x++, o += 4)
                {
                    int c = 298 * (y[lumaRow + x] - 16);
                    int d = u[chromaRow + x / 2] - 128;
                    int e = v[chromaRow + x / 2] - 128;
                    rgba[o] = Clamp((c + 409 * e + 128) >> 8);
                    rgba[o + 1] = Clamp((c - 100 * d - 208 * e + 128) >> 8);
                    rgba[o + 2] = Clamp((c + 516 * d + 128) >> 8);
                    rgba[o + 3] = 255;
                }
            }
            return rgba;
        }

        static byte Clamp(int value)
        {
            return value < 0 ? (byte)0 : value > 255 ? (byte)255 : (byte)value;
        }

        /// <summary>
        /// Copies the listener's frame (valid only during the native call) into the arrays,
        /// which are made anew only when the size changes. False (nothing changed) for a frame
        /// that is not I420 or whose strides are shorter than its rows.
        /// </summary>
        internal bool CopyFrom(ref Native.VoipVideoFrame frame)
        {
            int w = (int)Math.Min(frame.width, 4096u), h = (int)Math.Min(frame.height, 4096u);
            int cw = (w + 1) / 2, ch = (h + 1) / 2;
            if (frame.format != Native.VOIP_PIXEL_I420 || w == 0 || h == 0 || w != frame.width || h != frame.height
                || frame.strides0 < w || frame.strides1 < cw || frame.strides2 < cw
                || frame.planes0 == IntPtr.Zero || frame.planes1 == IntPtr.Zero || frame.planes2 == IntPtr.Zero)
            {
                return false;
            }
            if (Y.Length != w * h)
            {
                Y = new byte[w * h];
            }
            if (U.Length != cw * ch)
            {
                U = new byte[cw * ch];
                V = new byte[cw * ch];
            }
            CopyPlane(frame.planes0, (int)frame.strides0, Y, w, h);
            CopyPlane(frame.planes1, (int)frame.strides1, U, cw, ch);
            CopyPlane(frame.planes2, (int)frame.strides2, V, cw, ch);
            Width = w;
            Height = h;
            Sequence = frame.sequence;
            return true;
        }

        static void CopyPlane(IntPtr source, int stride, byte[] plane, int rowBytes, int rows)
        {
            if (stride == rowBytes)
            {
                Marshal.Copy(source, plane, 0, rowBytes * rows);
                return;
            }
            for (int row = 0; row < rows; row++)
            {
                Marshal.Copy(new IntPtr(source.ToInt64() + (long)row * stride), plane, row * rowBytes, rowBytes);
            }
        }
    }

    public static partial class VoipChat
    {
        // ---- video (a video room; any one thread for pushing, any thread for pulling) ------

        /// <summary>
        /// <c>voip_on_video_frame</c>: a member's new picture was decoded (a video room, from a
        /// member whose video you receive). Raised during <see cref="Poll"/> on its thread, like
        /// every event here (in Unity, the main thread: a handler may upload a texture). The
        /// frame and its arrays are valid only until the handler returns (see
        /// <see cref="VideoFrame"/>). At most one event per member per <see cref="Poll"/>, with
        /// the latest picture: when pictures come faster than you poll, the older ones are
        /// skipped, so <see cref="VideoFrame.Sequence"/> grows but may jump. Costs a copy of the
        /// picture (about 350 KB at 640x360) per delivered event while a handler is subscribed;
        /// none otherwise.
        /// </summary>
        public static event Action<VideoFrame> VideoFrameReceived;

        /// <summary>A member's two buffers: the handler reads Front, the native listener writes Back.</summary>
        sealed class FrameSlot
        {
            public VideoFrame Front;
            public VideoFrame Back;
            public bool Queued;

            public FrameSlot(string openId)
            {
                Front = new VideoFrame(openId);
                Back = new VideoFrame(openId);
            }
        }

        // Guarded by Gate.
        static readonly Dictionary<string, FrameSlot> FrameSlots = new Dictionary<string, FrameSlot>();

        /// <summary>The native listener's work (inside voip_poll): copy the planes, queue one delivery per member.</summary>
        static void ReceiveVideoFrame(IntPtr openIdPtr, IntPtr framePtr)
        {
            if (VideoFrameReceived == null || framePtr == IntPtr.Zero)
            {
                return;
            }
            string openId = Utf8.FromNative(openIdPtr);
            if (openId == null)
            {
                return;
            }
            var frame = (Native.VoipVideoFrame)Marshal.PtrToStructure(framePtr, typeof(Native.VoipVideoFrame));
            lock (Gate)
            {
                FrameSlot slot;
                if (!FrameSlots.TryGetValue(openId, out slot))
                {
                    slot = new FrameSlot(openId);
                    FrameSlots[openId] = slot;
                }
                if (!slot.Back.CopyFrom(ref frame) || slot.Queued)
                {
                    return;
                }
                slot.Queued = true;
                Deliveries.Enqueue(() => DeliverVideoFrame(slot));
            }
        }

        static void DeliverVideoFrame(FrameSlot slot)
        {
            VideoFrame frame;
            lock (Gate)
            {
                slot.Queued = false;
                frame = slot.Back;
                slot.Back = slot.Front;
                slot.Front = frame;
            }
            Action<VideoFrame> handler = VideoFrameReceived;
            if (handler != null)
            {
                handler(frame);
            }
        }

        /// <summary>Drops the buffers of members no longer in the call (all, for an empty list).</summary>
        static void ForgetVideoFrames(IReadOnlyList<string> stillHere)
        {
            lock (Gate)
            {
                if (FrameSlots.Count == 0)
                {
                    return;
                }
                var gone = new List<string>();
                foreach (string openId in FrameSlots.Keys)
                {
                    if (!Contains(stillHere, openId))
                    {
                        gone.Add(openId);
                    }
                }
                foreach (string openId in gone)
                {
                    // A delivery still queued holds its slot and is delivered as usual.
                    FrameSlots.Remove(openId);
                }
            }
        }

        static bool Contains(IReadOnlyList<string> list, string item)
        {
            for (int i = 0; i < list.Count; i++)
            {
                if (list[i] == item)
                {
                    return true;
                }
            }
            return false;
        }

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
