// =====================================================================================
//  DEVELOPMENT ONLY. Signs joins inside the game with the app secret, so a prototype or an
//  editor test scene can talk before a backend exists. A secret inside a game build is a
//  public secret: anyone can extract it and join any room as anyone. In a shipped game
//  the backend signs (README: "How a game backend signs") and the client only receives
//  (openId, nonceStr, timeStamp, signature).
// =====================================================================================
using System;
using System.Security.Cryptography;
using System.Text;

namespace VoipChatSdk.DevelopmentOnly
{
    /// <summary>
    /// DEVELOPMENT ONLY: WeChat's join signature computed in C#, exactly as the library's
    /// server checks it. Never ship the app secret in a game build; sign on your backend.
    /// </summary>
    public static class DevJoinSigner
    {
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false);

        /// <summary>Raised once, the first time a join is signed in-process (the Unity driver logs it as a warning).</summary>
        public static event Action<string> Warning;

        static bool warned;

        /// <summary><c>base64_standard(HMAC_SHA256(key = app_secret, msg = open_id))</c>.</summary>
        public static string SessionKey(string appSecret, string openId)
        {
            using (var hmac = new HMACSHA256(Utf8.GetBytes(Required(appSecret, "appSecret"))))
            {
                return Convert.ToBase64String(hmac.ComputeHash(Utf8.GetBytes(Required(openId, "openId"))));
            }
        }

        /// <summary>
        /// <c>lowercase_hex(HMAC_SHA256(key = session_key as UTF-8, msg = sort([appId, groupId, nonceStr, String(timeStamp)]).join("")))</c>,
        /// sorted byte-wise on the UTF-8 encodings (not by C#'s UTF-16 ordinal order).
        /// </summary>
        public static string Sign(string sessionKey, string appId, string groupId, string nonceStr, long timeStamp)
        {
            byte[][] parts =
            {
                Utf8.GetBytes(Required(appId, "appId")),
                Utf8.GetBytes(Required(groupId, "groupId")),
                Utf8.GetBytes(Required(nonceStr, "nonceStr")),
                Utf8.GetBytes(timeStamp.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            };
            Array.Sort(parts, CompareBytes);
            int length = 0;
            foreach (byte[] part in parts)
            {
                length += part.Length;
            }
            var message = new byte[length];
            int at = 0;
            foreach (byte[] part in parts)
            {
                Buffer.BlockCopy(part, 0, message, at, part.Length);
                at += part.Length;
            }
            using (var hmac = new HMACSHA256(Utf8.GetBytes(Required(sessionKey, "sessionKey"))))
            {
                byte[] digest = hmac.ComputeHash(message);
                var hex = new StringBuilder(digest.Length * 2);
                foreach (byte b in digest)
                {
                    hex.Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                }
                return hex.ToString();
            }
        }

        /// <summary>
        /// DEVELOPMENT ONLY: complete <see cref="JoinOptions"/> for <paramref name="openId"/>, with a
        /// fresh random nonce and the current time, as a backend would hand them to the client.
        /// </summary>
        public static JoinOptions SignJoin(string appId, string appSecret, string openId, string groupId, RoomType roomType = RoomType.Voice, MuteConfig? muteConfig = null)
        {
            WarnOnce();
            string nonce = NewNonce();
            long timeStamp = DateTimeOffsetNowSeconds();
            return new JoinOptions
            {
                AppId = appId,
                OpenId = openId,
                GroupId = groupId,
                NonceStr = nonce,
                TimeStamp = timeStamp,
                Signature = Sign(SessionKey(appSecret, openId), appId, groupId, nonce, timeStamp),
                RoomType = roomType,
                MuteConfig = muteConfig,
            };
        }

        /// <summary>16 random hex characters (a nonce is used once; shorter than 128 characters).</summary>
        public static string NewNonce()
        {
            var bytes = new byte[8];
            using (var rng = RandomNumberGenerator.Create())
            {
                rng.GetBytes(bytes);
            }
            var hex = new StringBuilder(16);
            foreach (byte b in bytes)
            {
                hex.Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }
            return hex.ToString();
        }

        static long DateTimeOffsetNowSeconds()
        {
            return (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
        }

        static int CompareBytes(byte[] a, byte[] b)
        {
            int n = Math.Min(a.Length, b.Length);
            for (int i = 0; i < n; i++)
            {
                if (a[i] != b[i])
                {
                    return a[i].CompareTo(b[i]);
                }
            }
            return a.Length.CompareTo(b.Length);
        }

        static string Required(string value, string name)
        {
            if (value == null)
            {
                throw new ArgumentNullException(name);
            }
            return value;
        }

        static void WarnOnce()
        {
            if (warned)
            {
                return;
            }
            warned = true;
            Action<string> handler = Warning;
            if (handler != null)
            {
                handler("voipchat: DevJoinSigner signs joins with the app secret inside the game. Development only: sign on your backend before shipping.");
            }
        }
    }
}
