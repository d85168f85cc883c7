// What a Unity script reload does, with a real AppDomain: the package is loaded into a
// second domain, joins a room and registers its callbacks, and the domain is unloaded without
// any explicit exit or shutdown. The package's DomainUnload hook must leave the room and
// unregister every native callback, or the next event would call into the unloaded domain.
using System;
using System.Collections.Generic;
using VoipChatSdk.DevelopmentOnly;

namespace VoipChatSdk.Tests
{
    public sealed class DomainScenario : MarshalByRefObject
    {
        /// <summary>Runs in the second domain: initializes, joins and stays. Returns the member list.</summary>
        public string[] JoinAndStay(string server, string pin, string appId, string secret, string group, string openId)
        {
            VoipChat.Initialize(new VoipChatConfig
            {
                Server = server,
                ServerCertSha256 = pin,
                AudioMode = AudioMode.External,
                LogLevel = LogLevel.Warn,
            });
            int events = 0;
            VoipChat.MembersChanged += r => events++;
            VoipChat.StateChanged += (s, json) => events++;
            VoipChat.SpeakersChanged += r => events++;
            VoipChat.Interrupted += r => events++;
            JoinResult joined = Harness.Await(VoipChat.JoinAsync(DevJoinSigner.SignJoin(appId, secret, openId, group)), 15);
            return new List<string>(joined.OpenIdList).ToArray();
        }

        public string DomainName()
        {
            return AppDomain.CurrentDomain.FriendlyName;
        }
    }
}
