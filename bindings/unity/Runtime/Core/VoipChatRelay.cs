// The relay server embedded in the game process (voip_server_start): a LAN host, a listen
// server, an editor test scene, or the tests. A dedicated server would run `voipchat-server`.
using System;
using System.Collections.Generic;
using VoipChatSdk.Interop;

namespace VoipChatSdk
{
    /// <summary>One app the relay admits: its id and secret.</summary>
    [Serializable]
    public struct RelayApp
    {
        public string AppId;
        public string AppSecret;

        public RelayApp(string appId, string appSecret)
        {
            AppId = appId;
            AppSecret = appSecret;
        }
    }

    /// <summary>Settings for <see cref="VoipChatRelay.Start"/>; zero and null mean the library's defaults.</summary>
    [Serializable]
    public sealed class RelayOptions
    {
        /// <summary>"ip:port" to listen on; null = "127.0.0.1:0" (a free loopback port).</summary>
        public string Listen;

        public RelayApp[] Apps = new RelayApp[0];

        /// <summary>0 = 10.</summary>
        public int MaxMembers;

        /// <summary>Seconds a join's timestamp may be off either way; 0 = 300.</summary>
        public int TimestampWindowSeconds;

        /// <summary>PEM certificate chain and key; null = a fresh self-signed certificate (clients pin <see cref="VoipChatRelay.CertSha256"/>).</summary>
        public string CertPemPath;

        public string KeyPemPath;
    }

    /// <summary>
    /// A running embedded relay. Dispose it to tell members the server is going away and close it.
    /// No callback is registered with the relay, so it never calls into managed code.
    /// </summary>
    public sealed class VoipChatRelay : IDisposable
    {
        static readonly List<VoipChatRelay> Running = new List<VoipChatRelay>();

        IntPtr server;

        VoipChatRelay(IntPtr server)
        {
            this.server = server;
            Port = Native.voip_server_port(server);
            CertSha256 = Utf8.FromNative(Native.voip_server_cert_sha256(server));
        }

        /// <summary>The UDP port it listens on.</summary>
        public int Port { get; private set; }

        /// <summary>Lowercase hex SHA-256 of its certificate: <see cref="VoipChatConfig.ServerCertSha256"/> for clients.</summary>
        public string CertSha256 { get; private set; }

        /// <summary>Starts a relay. Throws <see cref="VoipChatException"/> with the library's reason on failure.</summary>
        public static VoipChatRelay Start(RelayOptions options)
        {
            if (options == null)
            {
                throw new ArgumentNullException("options");
            }
            Native.VoipServerConfig c = Native.voip_server_config_default();
            IntPtr server;
            using (var memory = new NativeAllocations())
            {
                RelayApp[] apps = options.Apps ?? new RelayApp[0];
                var nativeApps = new Native.VoipApp[apps.Length];
                for (int i = 0; i < apps.Length; i++)
                {
                    nativeApps[i].app_id = memory.String(apps[i].AppId);
                    nativeApps[i].app_secret = memory.String(apps[i].AppSecret);
                }
                c.listen = memory.String(options.Listen);
                c.apps = memory.Array(nativeApps);
                c.app_count = (UIntPtr)(uint)nativeApps.Length;
                c.max_members = (uint)Math.Max(0, options.MaxMembers);
                c.timestamp_window_s = (uint)Math.Max(0, options.TimestampWindowSeconds);
                c.cert_pem_path = memory.String(options.CertPemPath);
                c.key_pem_path = memory.String(options.KeyPemPath);
                c.log = IntPtr.Zero; // server threads would call into managed code: not wanted
                c.log_user_data = IntPtr.Zero;
                server = Native.voip_server_start(ref c);
            }
            if (server == IntPtr.Zero)
            {
                throw new VoipChatException(ErrorCodes.System, "voip_server_start failed: " + VoipChat.LastErrorMessage());
            }
            var relay = new VoipChatRelay(server);
            lock (Running)
            {
                Running.Add(relay);
            }
            return relay;
        }

        /// <summary>"127.0.0.1:port" style address for <see cref="VoipChatConfig.Server"/>, given the host clients reach.</summary>
        public string AddressFor(string host)
        {
            return host + ":" + Port;
        }

        /// <summary>Tells members the server is going away (they see Interrupted -1009) and frees it. Safe to call twice.</summary>
        public void Dispose()
        {
            IntPtr stopping;
            lock (Running)
            {
                stopping = server;
                server = IntPtr.Zero;
                Running.Remove(this);
            }
            if (stopping != IntPtr.Zero)
            {
                Native.voip_server_stop(stopping);
            }
        }

        /// <summary>Stops every relay this domain started (the Unity driver calls it when play mode ends).</summary>
        public static void StopAll()
        {
            VoipChatRelay[] all;
            lock (Running)
            {
                all = Running.ToArray();
            }
            foreach (VoipChatRelay relay in all)
            {
                relay.Dispose();
            }
        }
    }
}
