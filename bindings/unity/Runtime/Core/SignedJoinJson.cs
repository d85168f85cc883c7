// The signed join a game backend hands its client, as JSON in the shape `voipchat-server sign`
// prints: {"appId":…,"openId":…,"groupId":…,"nonceStr":…,"timeStamp":…,"signature":…}.
// A small reader for that flat object, so the core needs no JSON library.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace VoipChatSdk
{
    /// <summary>Reads the JSON a game backend returns for a join (see the README, "How a game backend signs").</summary>
    public static class SignedJoinJson
    {
        /// <summary>
        /// JoinOptions from the backend's JSON. Unknown keys are ignored; <c>roomType</c> (0 voice,
        /// 1 video) and <c>muteConfig</c> come from the arguments. Throws FormatException for
        /// anything else than a flat JSON object with the six fields.
        /// </summary>
        public static JoinOptions Parse(string json, RoomType roomType = RoomType.Voice, MuteConfig? muteConfig = null)
        {
            Dictionary<string, object> fields = new Reader(json).FlatObject();
            return new JoinOptions
            {
                AppId = Text(fields, "appId"),
                OpenId = Text(fields, "openId"),
                GroupId = Text(fields, "groupId"),
                NonceStr = Text(fields, "nonceStr"),
                TimeStamp = Number(fields, "timeStamp"),
                Signature = Text(fields, "signature"),
                RoomType = roomType,
                MuteConfig = muteConfig,
            };
        }

        static string Text(Dictionary<string, object> fields, string key)
        {
            object value;
            if (!fields.TryGetValue(key, out value) || !(value is string))
            {
                throw new FormatException("signed join: \"" + key + "\" must be a string");
            }
            return (string)value;
        }

        static long Number(Dictionary<string, object> fields, string key)
        {
            object value;
            if (!fields.TryGetValue(key, out value) || !(value is long))
            {
                throw new FormatException("signed join: \"" + key + "\" must be an integer");
            }
            return (long)value;
        }

        sealed class Reader
        {
            readonly string s;
            int at;

            public Reader(string json)
            {
                if (json == null)
                {
                    throw new ArgumentNullException("json");
                }
                s = json;
            }

            public Dictionary<string, object> FlatObject()
            {
                var fields = new Dictionary<string, object>();
                Expect('{');
                if (Peek() == '}')
                {
                    at++;
                }
                else
                {
                    while (true)
                    {
                        string key = String();
                        Expect(':');
                        fields[key] = Value();
                        char next = Next();
                        if (next == '}')
                        {
                            break;
                        }
                        if (next != ',')
                        {
                            throw Error("',' or '}'");
                        }
                    }
                }
                SkipSpace();
                if (at != s.Length)
                {
                    throw Error("the end");
                }
                return fields;
            }

            object Value()
            {
                char c = Peek();
                if (c == '"')
                {
                    return String();
                }
                if (c == '-' || (c >= '0' && c <= '9'))
                {
                    int start = at;
                    at++;
                    while (at < s.Length && s[at] >= '0' && s[at] <= '9')
                    {
                        at++;
                    }
                    long n;
                    if (!long.TryParse(s.Substring(start, at - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out n))
                    {
                        throw Error("an integer");
                    }
                    return n;
                }
                foreach (string word in new[] { "true", "false", "null" })
                {
                    if (string.CompareOrdinal(s, at, word, 0, word.Length) == 0)
                    {
                        at += word.Length;
                        return word == "null" ? null : (object)(word == "true");
                    }
                }
                throw Error("a string, an integer, true, false or null");
            }

            string String()
            {
                Expect('"');
                var text = new StringBuilder();
                while (true)
                {
                    if (at >= s.Length)
                    {
                        throw Error("'\"'");
                    }
                    char c = s[at++];
                    if (c == '"')
                    {
                        return text.ToString();
                    }
                    if (c != '\\')
                    {
                        text.Append(c);
                        continue;
                    }
                    if (at >= s.Length)
                    {
                        throw Error("an escape");
                    }
                    char e = s[at++];
                    switch (e)
                    {
                        case '"': text.Append('"'); break;
                        case '\\': text.Append('\\'); break;
                        case '/': text.Append('/'); break;
                        case 'b': text.Append('\b'); break;
                        case 'f': text.Append('\f'); break;
                        case 'n': text.Append('\n'); break;
                        case 'r': text.Append('\r'); break;
                        case 't': text.Append('\t'); break;
                        case 'u':
                            int code;
                            if (at + 4 > s.Length || !int.TryParse(s.Substring(at, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out code))
                            {
                                throw Error("four hex digits");
                            }
                            text.Append((char)code);
                            at += 4;
                            break;
                        default:
                            throw Error("an escape");
                    }
                }
            }

            void Expect(char c)
            {
                if (Next() != c)
                {
                    at--;
                    throw Error("'" + c + "'");
                }
            }

            char Next()
            {
                char c = Peek();
                at++;
                return c;
            }

            char Peek()
            {
                SkipSpace();
                if (at >= s.Length)
                {
                    throw Error("more");
                }
                return s[at];
            }

            void SkipSpace()
            {
                while (at < s.Length && char.IsWhiteSpace(s[at]))
                {
                    at++;
                }
            }

            FormatException Error(string expected)
            {
                return new FormatException("signed join: expected " + expected + " at offset " + at);
            }
        }
    }
}
