// The seam between the plain-C# core and Unity: drives VoipChat.Poll() from the player loop,
// routes the SDK's log lines and handler exceptions to the Unity console, and tears the SDK
// down when play mode ends, the application quits or scripts reload, so no native callback
// ever lands in a dead domain. Nothing here is needed outside Unity.
#if UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using UnityEngine;
using UnityEngine.LowLevel;
using VoipChatSdk.DevelopmentOnly;
#if UNITY_EDITOR
using UnityEditor;
#endif

namespace VoipChatSdk.Unity
{
    /// <summary>
    /// Installed automatically when play mode (or the player) starts: a player-loop system at
    /// the start of <c>Update</c> calls <see cref="VoipChat.Poll"/> once per frame on the main
    /// thread, so every event, callback and awaited Task of the package continues there, before
    /// any MonoBehaviour.Update of the frame. Needs no GameObject and survives scene loads.
    /// </summary>
    public static class VoipChatDriver
    {
        /// <summary>The marker type of the player-loop system (it shows in the Profiler).</summary>
        public struct VoipChatPoll
        {
        }

        static bool libraryMissing;

        [RuntimeInitializeOnLoadMethod(RuntimeInitializeLoadType.SubsystemRegistration)]
        static void Install()
        {
            // With "Enter Play Mode Options" and no domain reload, statics survive from the last
            // play session: start clean (handlers of destroyed objects must not be called).
            VoipChat.ClearEventHandlers();
            libraryMissing = false;

            VoipChat.Log -= LogToConsole;
            VoipChat.Log += LogToConsole;
            VoipChat.UnhandledException = Debug.LogException;
            DevJoinSigner.Warning -= WarnToConsole;
            DevJoinSigner.Warning += WarnToConsole;

            PlayerLoopSystem root = PlayerLoop.GetCurrentPlayerLoop();
            RemoveFrom(ref root);
            InsertAtStartOfUpdate(ref root);
            PlayerLoop.SetPlayerLoop(root);

            Application.quitting -= TearDown;
            Application.quitting += TearDown;
#if UNITY_EDITOR
            EditorApplication.playModeStateChanged -= OnPlayModeStateChanged;
            EditorApplication.playModeStateChanged += OnPlayModeStateChanged;
            AssemblyReloadEvents.beforeAssemblyReload -= TearDown;
            AssemblyReloadEvents.beforeAssemblyReload += TearDown;
#endif
        }

        /// <summary>
        /// Leaves the room, delivers what is pending, shuts the SDK down and stops embedded relays.
        /// Called on quit, when play mode ends and before scripts reload; safe to call yourself.
        /// </summary>
        public static void TearDown()
        {
            try
            {
                VoipChat.Shutdown();
                VoipChatRelay.StopAll();
            }
            catch (DllNotFoundException)
            {
                // The library never loaded: nothing to tear down.
            }
            catch (Exception e)
            {
                Debug.LogException(e);
            }
        }

#if UNITY_EDITOR
        static void OnPlayModeStateChanged(PlayModeStateChange change)
        {
            if (change == PlayModeStateChange.ExitingPlayMode)
            {
                TearDown();
                PlayerLoopSystem root = PlayerLoop.GetCurrentPlayerLoop();
                RemoveFrom(ref root);
                PlayerLoop.SetPlayerLoop(root);
            }
        }
#endif

        static void Tick()
        {
            if (libraryMissing)
            {
                return;
            }
            try
            {
                VoipChat.Poll();
            }
            catch (DllNotFoundException e)
            {
                libraryMissing = true;
                Debug.LogError("voipchat: the native library is missing for this platform (see the package README, \"Native libraries\"): " + e.Message);
            }
            catch (EntryPointNotFoundException e)
            {
                libraryMissing = true;
                Debug.LogError("voipchat: the native library does not match this package version: " + e.Message);
            }
        }

        static void InsertAtStartOfUpdate(ref PlayerLoopSystem root)
        {
            var ours = new PlayerLoopSystem
            {
                type = typeof(VoipChatPoll),
                updateDelegate = Tick,
            };
            PlayerLoopSystem[] phases = root.subSystemList;
            if (phases == null)
            {
                return;
            }
            for (int i = 0; i < phases.Length; i++)
            {
                if (phases[i].type == typeof(UnityEngine.PlayerLoop.Update))
                {
                    var systems = new List<PlayerLoopSystem>(phases[i].subSystemList ?? new PlayerLoopSystem[0]);
                    systems.Insert(0, ours);
                    phases[i].subSystemList = systems.ToArray();
                    return;
                }
            }
            // No Update phase (a custom player loop): run as a phase of its own.
            var all = new List<PlayerLoopSystem>(phases);
            all.Add(ours);
            root.subSystemList = all.ToArray();
        }

        static void RemoveFrom(ref PlayerLoopSystem system)
        {
            if (system.subSystemList == null)
            {
                return;
            }
            var kept = new List<PlayerLoopSystem>(system.subSystemList.Length);
            foreach (PlayerLoopSystem child in system.subSystemList)
            {
                if (child.type == typeof(VoipChatPoll))
                {
                    continue;
                }
                PlayerLoopSystem copy = child;
                RemoveFrom(ref copy);
                kept.Add(copy);
            }
            system.subSystemList = kept.ToArray();
        }

        static void LogToConsole(LogLevel level, string message)
        {
            switch (level)
            {
                case LogLevel.Error:
                    Debug.LogError("voipchat: " + message);
                    break;
                case LogLevel.Warn:
                    Debug.LogWarning("voipchat: " + message);
                    break;
                default:
                    Debug.Log("voipchat: " + message);
                    break;
            }
        }

        static void WarnToConsole(string message)
        {
            Debug.LogWarning(message);
        }
    }
}
#endif
