#if UNITY_5_3_OR_NEWER
using System;
using UnityEngine;
using UnityEngine.UI;
#if UNITY_ANDROID && !UNITY_EDITOR
using UnityEngine.Android;
#endif

namespace VoipChatSdk.Unity
{
    /// <summary>
    /// Video in a video room (join with <see cref="RoomType.Video"/>), in two optional roles:
    /// <list type="bullet">
    /// <item><b>Send</b> (<see cref="SendCamera"/>): opens a <c>WebCamTexture</c> and, on each
    /// new camera frame (at most <see cref="MaxSendFps"/> a second), pushes its
    /// <c>GetPixels32</c> to the call. Unity's pixels are bottom row first, so the rows are
    /// turned over on the way (<see cref="VoipVideoSender"/>); a camera Unity reports as
    /// <c>videoVerticallyMirrored</c> is already top-down and is sent as it is. Rotation
    /// (<c>videoRotationAngle</c>, a phone held upright) is not applied: rotate the frame
    /// yourself and push with <see cref="VoipVideoSender"/> if you need it.</item>
    /// <item><b>Show</b> (<see cref="MemberOpenId"/>): every frame, pulls that member's latest
    /// picture only when its sequence number changed, into a reusable buffer, and uploads it
    /// to <see cref="Texture"/> (RGBA32, <c>LoadRawTextureData</c> + <c>Apply</c>), shown on
    /// <see cref="Target"/> when set.</item>
    /// </list>
    /// One component per member shown; one (anywhere) with <see cref="SendCamera"/> on.
    /// Asks for the camera permission on Android and iOS.
    /// </summary>
    [AddComponentMenu("VoipChat/Voip Video")]
    public sealed class VoipVideo : MonoBehaviour
    {
        [Header("Send: this device's camera")]
        [Tooltip("Open the camera and send it into the call.")]
        public bool SendCamera;

        [Tooltip("Camera device name (WebCamTexture.devices); empty = the default camera.")]
        public string CameraDevice = "";

        [Tooltip("Requested camera size and rate; the SDK scales whatever arrives to 640x360.")]
        public int RequestedWidth = 640;

        public int RequestedHeight = 360;

        public int RequestedFps = 30;

        [Tooltip("Frames pushed per second at most (the encoder plans for 30).")]
        public float MaxSendFps = 30f;

        [Header("Show: one member's video")]
        [Tooltip("The member's openId, as it appears in the members list; empty = show nothing.")]
        [SerializeField]
        string memberOpenId = "";

        [Tooltip("Where to show it (optional): its texture is set to this component's Texture.")]
        public RawImage Target;

        /// <summary>Raised on the main thread when <see cref="Texture"/> is made anew (the picture's size changed).</summary>
        public event Action<Texture2D> TextureChanged;

        WebCamTexture webcam;
        Color32[] cameraPixels;
        readonly VoipVideoSender sender = new VoipVideoSender();
        float lastSend = float.NegativeInfinity;
        bool wantCamera;

        VoipVideoReceiver receiver;
        Texture2D texture;

        /// <summary>Whose video is shown; null or empty for none.</summary>
        public string MemberOpenId
        {
            get { return memberOpenId; }
            set
            {
                memberOpenId = value;
                receiver = string.IsNullOrEmpty(value) ? null : new VoipVideoReceiver(value, bottomUp: true);
            }
        }

        /// <summary>The member's latest picture (null until the first arrives).</summary>
        public Texture2D Texture
        {
            get { return texture; }
        }

        /// <summary>The camera's texture while sending (to show a self view), else null.</summary>
        public WebCamTexture CameraTexture
        {
            get { return webcam; }
        }

        /// <summary>The last push's code: 0, or -1001 / -1005 / -1006 (see <see cref="VoipChat.PushVideoFrame(byte[],int,int,int)"/>).</summary>
        public int LastSendCode { get; private set; }

        void OnEnable()
        {
            MemberOpenId = memberOpenId;
            if (SendCamera)
            {
                StartCamera();
            }
        }

        void OnDisable()
        {
            StopCamera();
        }

        void OnDestroy()
        {
            if (texture != null)
            {
                Destroy(texture);
                texture = null;
            }
        }

        /// <summary>Opens the camera (after the permission prompt where the platform has one).</summary>
        public void StartCamera()
        {
            wantCamera = true;
            if (webcam != null || !HasPermission())
            {
                return; // Update starts it once the player grants the permission
            }
            if (WebCamTexture.devices.Length == 0)
            {
                Debug.LogWarning("voipchat: no camera found");
                return;
            }
            webcam = string.IsNullOrEmpty(CameraDevice)
                ? new WebCamTexture(RequestedWidth, RequestedHeight, RequestedFps)
                : new WebCamTexture(CameraDevice, RequestedWidth, RequestedHeight, RequestedFps);
            webcam.Play();
        }

        /// <summary>Closes the camera; others stop receiving this member's video about a second later.</summary>
        public void StopCamera()
        {
            wantCamera = false;
            if (webcam != null)
            {
                webcam.Stop();
                Destroy(webcam);
                webcam = null;
            }
        }

        void Update()
        {
            if (webcam == null && wantCamera && HasPermission())
            {
                StartCamera();
            }
            SendCameraFrame();
            ShowMember();
        }

        void SendCameraFrame()
        {
            // WebCamTexture reports 16x16 until the first real frame.
            if (webcam == null || !webcam.isPlaying || !webcam.didUpdateThisFrame || webcam.width <= 16)
            {
                return;
            }
            float now = Time.unscaledTime;
            if (MaxSendFps > 0f && now - lastSend < 1f / MaxSendFps)
            {
                return;
            }
            lastSend = now;
            int width = webcam.width, height = webcam.height;
            if (cameraPixels == null || cameraPixels.Length != width * height)
            {
                cameraPixels = new Color32[width * height];
            }
            webcam.GetPixels32(cameraPixels);
            LastSendCode = sender.PushRgba(cameraPixels, width, height, bottomUp: !webcam.videoVerticallyMirrored);
        }

        void ShowMember()
        {
            if (receiver == null || !receiver.Pull())
            {
                return;
            }
            if (texture == null || texture.width != receiver.Width || texture.height != receiver.Height)
            {
                if (texture != null)
                {
                    Destroy(texture);
                }
                texture = new Texture2D(receiver.Width, receiver.Height, TextureFormat.RGBA32, false);
                texture.name = "voipchat video " + receiver.OpenId;
                texture.wrapMode = TextureWrapMode.Clamp;
                if (Target != null)
                {
                    Target.texture = texture;
                }
                Action<Texture2D> changed = TextureChanged;
                if (changed != null)
                {
                    changed(texture);
                }
            }
            texture.LoadRawTextureData(receiver.Pixels);
            texture.Apply(false);
        }

        static bool HasPermission()
        {
#if UNITY_ANDROID && !UNITY_EDITOR
            if (!Permission.HasUserAuthorizedPermission(Permission.Camera))
            {
                Permission.RequestUserPermission(Permission.Camera);
                return false;
            }
            return true;
#elif UNITY_IOS && !UNITY_EDITOR
            if (!Application.HasUserAuthorization(UserAuthorization.WebCam))
            {
                Application.RequestUserAuthorization(UserAuthorization.WebCam);
                return false;
            }
            return true;
#else
            return true;
#endif
        }
    }
}
#endif
