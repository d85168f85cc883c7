// voipchat sample: two players talking.
//
// 1. New scene; add an empty GameObject; add this component (it adds the microphone and
//    playback components itself). The scene's Main Camera carries the AudioListener.
// 2. Player A ticks "Host Relay Here" and presses Play: a relay starts inside the game on port
//    4433, and the on-screen panel shows its address and certificate pin.
// 3. Player B (another machine, or a build on the same one) enters A's address ("192.168.1.20:4433",
//    or "127.0.0.1:4433" on the same machine) and pin, then presses Play.
// Both join room "lobby" and hear each other; each remote player's voice comes from a 3D
// AudioSource placed around the listener (untick "Spatial Voices" for plain 2D).
//
// DEVELOPMENT ONLY: this sample signs its joins in the game with the app secret
// (DevJoinSigner). A shipped game asks its backend for (openId, nonceStr, timeStamp,
// signature); see the package README, "How a game backend signs".
using System.Collections.Generic;
using UnityEngine;
using VoipChatSdk;
using VoipChatSdk.DevelopmentOnly;
using VoipChatSdk.Unity;

public sealed class TwoPlayersVoice : MonoBehaviour
{
    [Header("Relay")]
    [Tooltip("Start a relay inside this game (listen server / LAN host).")]
    public bool HostRelayHere;
    [Tooltip("host:port of the relay to join (ignored when hosting).")]
    public string Server = "127.0.0.1:4433";
    [Tooltip("The relay's cert-sha256 line (its self-signed certificate's pin).")]
    public string ServerCertSha256 = "";

    [Header("Room")]
    public string AppId = "wx123";
    [Tooltip("DEVELOPMENT ONLY: never ship an app secret in a game build.")]
    public string DevAppSecret = "APP_SECRET";
    public string GroupId = "lobby";
    [Tooltip("Empty = a random player name.")]
    public string OpenId = "";

    [Header("Voices")]
    public bool SpatialVoices = true;
    public float VoiceDistance = 3f;

    VoipChatRelay relay;
    string status = "starting";
    bool muteMicrophone;
    bool muteEarphone;
    readonly Dictionary<string, VoipMemberVoice> voices = new Dictionary<string, VoipMemberVoice>();

    async void Start()
    {
        if (string.IsNullOrEmpty(OpenId))
        {
            OpenId = "player-" + Random.Range(1000, 10000);
        }
        try
        {
            if (HostRelayHere)
            {
                relay = VoipChatRelay.Start(new RelayOptions
                {
                    Listen = "0.0.0.0:4433",
                    Apps = new[] { new RelayApp(AppId, DevAppSecret) },
                });
                Server = "127.0.0.1:" + relay.Port;
                ServerCertSha256 = relay.CertSha256;
            }
            VoipChat.Initialize(new VoipChatConfig
            {
                Server = Server,
                ServerCertSha256 = string.IsNullOrEmpty(ServerCertSha256) ? null : ServerCertSha256.Trim(),
                AudioMode = AudioMode.External,
            });
        }
        catch (VoipChatException e)
        {
            status = "could not start: " + e.ErrMsg;
            return;
        }

        VoipChat.MembersChanged += OnMembersChanged;
        VoipChat.Interrupted += OnInterrupted;
        VoipChat.StateChanged += OnStateChanged;

        // Engine audio: the microphone in, the mix out (members with a 3D voice leave the mix).
        gameObject.AddComponent<VoipMicrophone>();
        gameObject.AddComponent<VoipPlayback>();

        await Join();
    }

    async System.Threading.Tasks.Task Join()
    {
        status = "joining " + GroupId + " as " + OpenId;
        try
        {
            // In a shipped game: JoinOptions from your backend instead of DevJoinSigner.
            JoinResult joined = await VoipChat.JoinAsync(DevJoinSigner.SignJoin(AppId, DevAppSecret, OpenId, GroupId));
            if (this == null)
            {
                return; // destroyed while joining
            }
            status = joined.ErrMsg;
            UpdateVoices(joined.OpenIdList);
        }
        catch (VoipChatException e)
        {
            status = "join failed: " + e.ErrCode + " " + e.ErrMsg; // e.g. -1002 signature rejected
        }
    }

    async void JoinAgain()
    {
        await Join();
    }

    void OnMembersChanged(VoipChatResult members)
    {
        UpdateVoices(members.OpenIdList);
    }

    void OnInterrupted(VoipChatResult why)
    {
        status = "interrupted: " + why.ErrCode + " " + why.ErrMsg;
        UpdateVoices(new string[0]);
    }

    void OnStateChanged(VoipChatState state, string dataJson)
    {
        Debug.Log("voipchat state " + state + " " + dataJson);
    }

    /// <summary>One 3D AudioSource per remote member, placed on a circle around this object.</summary>
    void UpdateVoices(IReadOnlyList<string> members)
    {
        if (!SpatialVoices)
        {
            return;
        }
        var present = new HashSet<string>(members);
        foreach (string gone in new List<string>(voices.Keys))
        {
            if (!present.Contains(gone))
            {
                Destroy(voices[gone].gameObject);
                voices.Remove(gone);
            }
        }
        int i = 0;
        foreach (string member in members)
        {
            i++;
            if (member == OpenId || voices.ContainsKey(member))
            {
                continue;
            }
            var avatar = new GameObject("voice " + member);
            avatar.transform.SetParent(transform, false);
            float angle = i * 2f * Mathf.PI / 10f;
            avatar.transform.localPosition = new Vector3(Mathf.Sin(angle), 0f, Mathf.Cos(angle)) * VoiceDistance;
            VoipMemberVoice voice = avatar.AddComponent<VoipMemberVoice>();
            voice.OpenId = member;
            voices[member] = voice;
        }
    }

    async void SetMute(bool microphone, bool earphone)
    {
        try
        {
            await VoipChat.UpdateMuteConfigAsync(new MuteConfig(microphone, earphone));
            muteMicrophone = microphone;
            muteEarphone = earphone;
        }
        catch (VoipChatException e)
        {
            status = "mute failed: " + e.ErrMsg;
        }
    }

    void OnGUI()
    {
        GUILayout.BeginArea(new Rect(10, 10, 460, 600));
        GUILayout.Label("voipchat " + status);
        if (relay != null)
        {
            GUILayout.Label("Hosting a relay on port " + relay.Port + ". Other players join <this machine's IP>:" + relay.Port + " with the pin:");
            GUILayout.TextField(relay.CertSha256);
        }
        GUILayout.Label("You are " + OpenId + " in room " + GroupId + " (" + VoipChat.State + ")");
        foreach (string member in VoipChat.Members)
        {
            bool speaking = false;
            foreach (string s in VoipChat.Speakers)
            {
                speaking |= s == member;
            }
            GUILayout.Label((speaking ? "  >> " : "     ") + member + (member == OpenId ? " (you)" : ""));
        }
        bool mic = GUILayout.Toggle(muteMicrophone, "Mute microphone");
        bool ear = GUILayout.Toggle(muteEarphone, "Mute earphone");
        if (mic != muteMicrophone || ear != muteEarphone)
        {
            SetMute(mic, ear);
        }
        if (VoipChat.State == VoipChatState.Joined && GUILayout.Button("Leave"))
        {
            VoipChat.Exit(r => status = r.ErrMsg, r => status = r.ErrMsg);
            UpdateVoices(new string[0]);
        }
        if ((VoipChat.State == VoipChatState.Left || VoipChat.State == VoipChatState.Idle) && VoipChat.IsInitialized && GUILayout.Button("Join again"))
        {
            JoinAgain();
        }
        GUILayout.EndArea();
    }

    void OnDestroy()
    {
        VoipChat.MembersChanged -= OnMembersChanged;
        VoipChat.Interrupted -= OnInterrupted;
        VoipChat.StateChanged -= OnStateChanged;
        VoipChat.Shutdown(); // leaves the room; the driver also does this when play mode ends
        if (relay != null)
        {
            relay.Dispose();
        }
    }
}
