// Compile-time stand-ins for the slice of the UnityEngine / UnityEditor API the package's
// Unity-facing files use, with the real signatures. Unity is not installed on the test
// machine; compiling Runtime/Unity/ and Samples~/ against these catches syntax and type errors
// (and checks the #if branches for Editor, Android and iOS), though not behaviour. Not shipped.
#pragma warning disable 67, 649
using System;

namespace AOT
{
    [AttributeUsage(AttributeTargets.Method)]
    public class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type type) { }
    }
}

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static void Destroy(Object obj) { }
        public static void DontDestroyOnLoad(Object target) { }
        public static bool operator ==(Object a, Object b) { return ReferenceEquals(a, b); }
        public static bool operator !=(Object a, Object b) { return !ReferenceEquals(a, b); }
        public static implicit operator bool(Object exists) { return !ReferenceEquals(exists, null); }
        public override bool Equals(object other) { return ReferenceEquals(this, other); }
        public override int GetHashCode() { return 0; }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public Transform transform { get { return null; } }
        public T GetComponent<T>() { return default(T); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
        public bool isActiveAndEnabled { get { return true; } }
    }

    public class MonoBehaviour : Behaviour { }

    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public Transform transform { get { return null; } }
        public T AddComponent<T>() where T : Component { return null; }
        public T GetComponent<T>() { return default(T); }
    }

    public class Transform : Component
    {
        public Vector3 localPosition { get; set; }
        public Vector3 position { get; set; }
        public void SetParent(Transform parent, bool worldPositionStays) { }
    }

    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static Vector3 operator *(Vector3 a, float d) { return new Vector3(a.x * d, a.y * d, a.z * d); }
    }

    public struct Rect
    {
        public Rect(float x, float y, float width, float height) { }
    }

    public struct Color32
    {
        public byte r, g, b, a;
        public Color32(byte r, byte g, byte b, byte a) { this.r = r; this.g = g; this.b = b; this.a = a; }
    }

    public enum TextureFormat
    {
        RGBA32 = 4,
    }

    public enum TextureWrapMode
    {
        Repeat = 0,
        Clamp = 1,
    }

    public class Texture : Object
    {
        public virtual int width { get { return 0; } set { } }
        public virtual int height { get { return 0; } set { } }
        public TextureWrapMode wrapMode { get; set; }
    }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain) { }
        public void LoadRawTextureData(byte[] data) { }
        public void Apply(bool updateMipmaps) { }
    }

    public struct WebCamDevice
    {
        public string name { get { return ""; } }
        public bool isFrontFacing { get { return false; } }
    }

    public sealed class WebCamTexture : Texture
    {
        public WebCamTexture(int requestedWidth, int requestedHeight, int requestedFPS) { }
        public WebCamTexture(string deviceName, int requestedWidth, int requestedHeight, int requestedFPS) { }
        public static WebCamDevice[] devices { get { return new WebCamDevice[0]; } }
        public bool isPlaying { get { return false; } }
        public bool didUpdateThisFrame { get { return false; } }
        public bool videoVerticallyMirrored { get { return false; } }
        public int videoRotationAngle { get { return 0; } }
        public void Play() { }
        public void Stop() { }
        public Color32[] GetPixels32(Color32[] colors) { return colors; }
    }

    public static class Time
    {
        public static float unscaledTime { get { return 0f; } }
    }

    public static class Mathf
    {
        public const float PI = 3.14159274f;
        public static float Sin(float f) { return (float)Math.Sin(f); }
        public static float Cos(float f) { return (float)Math.Cos(f); }
        public static int Clamp(int value, int min, int max) { return value < min ? min : value > max ? max : value; }
        public static int Max(int a, int b) { return Math.Max(a, b); }
    }

    public static class Random
    {
        public static int Range(int minInclusive, int maxExclusive) { return minInclusive; }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogError(object message) { }
        public static void LogException(Exception exception) { }
    }

    public enum UserAuthorization
    {
        WebCam = 1,
        Microphone = 2,
    }

    public class AsyncOperation { }

    public static class Application
    {
        public static event Action quitting;
        public static bool isPlaying { get { return true; } }
        public static bool HasUserAuthorization(UserAuthorization mode) { return true; }
        public static AsyncOperation RequestUserAuthorization(UserAuthorization mode) { return null; }
    }

    public enum RuntimeInitializeLoadType
    {
        AfterSceneLoad = 0,
        BeforeSceneLoad = 1,
        AfterAssembliesLoaded = 2,
        BeforeSplashScreen = 3,
        SubsystemRegistration = 4,
    }

    [AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
    public class RuntimeInitializeOnLoadMethodAttribute : Attribute
    {
        public RuntimeInitializeOnLoadMethodAttribute() { }
        public RuntimeInitializeOnLoadMethodAttribute(RuntimeInitializeLoadType loadType) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class SerializeField : Attribute { }

    [AttributeUsage(AttributeTargets.Field)]
    public class TooltipAttribute : Attribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public class HeaderAttribute : Attribute
    {
        public HeaderAttribute(string header) { }
    }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute
    {
        public RequireComponent(Type requiredComponent) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }

    public sealed class AudioClip : Object
    {
        public delegate void PCMReaderCallback(float[] data);
        public delegate void PCMSetPositionCallback(int position);
        public int samples { get { return 0; } }
        public int channels { get { return 1; } }
        public int frequency { get { return 48000; } }
        public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream) { return null; }
        public bool GetData(float[] data, int offsetSamples) { return true; }
        public bool SetData(float[] data, int offsetSamples) { return true; }
    }

    public sealed class AudioSource : Behaviour
    {
        public AudioClip clip { get; set; }
        public bool loop { get; set; }
        public bool playOnAwake { get; set; }
        public float spatialBlend { get; set; }
        public float volume { get; set; }
        public bool isPlaying { get { return false; } }
        public void Play() { }
        public void Stop() { }
    }

    public sealed class AudioSettings
    {
        public delegate void AudioConfigurationChangeHandler(bool deviceWasChanged);
        public static event AudioConfigurationChangeHandler OnAudioConfigurationChanged;
        public static int outputSampleRate { get { return 48000; } }
        public static void GetDSPBufferSize(out int bufferLength, out int numBuffers) { bufferLength = 1024; numBuffers = 4; }
    }

    public sealed class Microphone
    {
        public static string[] devices { get { return new string[0]; } }
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency) { return null; }
        public static void End(string deviceName) { }
        public static bool IsRecording(string deviceName) { return false; }
        public static int GetPosition(string deviceName) { return 0; }
        public static void GetDeviceCaps(string deviceName, out int minFreq, out int maxFreq) { minFreq = 0; maxFreq = 0; }
    }

    public static class JsonUtility
    {
        public static T FromJson<T>(string json) { return default(T); }
        public static string ToJson(object obj) { return ""; }
    }

    public sealed class GUILayoutOption { }

    public static class GUILayout
    {
        public static void Label(string text, params GUILayoutOption[] options) { }
        public static bool Button(string text, params GUILayoutOption[] options) { return false; }
        public static bool Toggle(bool value, string text, params GUILayoutOption[] options) { return value; }
        public static string TextField(string text, params GUILayoutOption[] options) { return text; }
        public static void BeginArea(Rect screenRect) { }
        public static void EndArea() { }
    }
}

namespace UnityEngine.UI
{
    public class Graphic : Behaviour { }

    public class MaskableGraphic : Graphic { }

    public class RawImage : MaskableGraphic
    {
        public Texture texture { get; set; }
        public Rect uvRect { get; set; }
    }
}

namespace UnityEngine.LowLevel
{
    public struct PlayerLoopSystem
    {
        public delegate void UpdateFunction();
        public Type type;
        public PlayerLoopSystem[] subSystemList;
        public UpdateFunction updateDelegate;
        public IntPtr updateFunction;
        public IntPtr loopConditionFunction;
    }

    public class PlayerLoop
    {
        public static PlayerLoopSystem GetCurrentPlayerLoop() { return default(PlayerLoopSystem); }
        public static PlayerLoopSystem GetDefaultPlayerLoop() { return default(PlayerLoopSystem); }
        public static void SetPlayerLoop(PlayerLoopSystem loop) { }
    }
}

namespace UnityEngine.PlayerLoop
{
    public struct Update { }
    public struct EarlyUpdate { }
    public struct PreLateUpdate { }
}

namespace UnityEngine.Android
{
    public struct Permission
    {
        public const string Microphone = "android.permission.RECORD_AUDIO";
        public const string Camera = "android.permission.CAMERA";
        public static bool HasUserAuthorizedPermission(string permission) { return true; }
        public static void RequestUserPermission(string permission) { }
    }
}

namespace UnityEditor
{
    public enum PlayModeStateChange
    {
        EnteredEditMode,
        ExitingEditMode,
        EnteredPlayMode,
        ExitingPlayMode,
    }

    public sealed class EditorApplication
    {
        public static event Action<PlayModeStateChange> playModeStateChanged;
    }

    public static class AssemblyReloadEvents
    {
        public delegate void AssemblyReloadCallback();
        public static event AssemblyReloadCallback beforeAssemblyReload;
        public static event AssemblyReloadCallback afterAssemblyReload;
    }
}
