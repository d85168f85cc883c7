// IL2CPP (Unity's ahead-of-time compiler) only generates native-callable entry points for
// static methods marked [AOT.MonoPInvokeCallback(typeof(TheDelegate))]. Unity defines the
// attribute in UnityEngine; outside Unity (the Mono build the tests compile) this file
// defines the same type, so the core sources compile unchanged in both.
#if !UNITY_5_3_OR_NEWER
using System;

namespace AOT
{
    /// <summary>Marks a static method that native code calls back (IL2CPP needs it).</summary>
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type type)
        {
            DelegateType = type;
        }

        public Type DelegateType { get; private set; }
    }
}
#endif
