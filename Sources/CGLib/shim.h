// Small static-inline wrappers for GLib/GIO macros and variadic functions that do not import
// into Swift. Keep this file the only place GLib's C macros are expanded.
#ifndef BITS_CGLIB_SHIM_H
#define BITS_CGLIB_SHIM_H
#include <gio/gio.h>

/// A GVariantType from a type string such as "s", "a{sv}" or "(ss)".
static inline const GVariantType *bits_variant_type(const char *type_string) {
    return (const GVariantType *)type_string;
}

/// The unique name of the sender of a method call, or NULL.
static inline const char *bits_invocation_sender(GDBusMethodInvocation *invocation) {
    return g_dbus_method_invocation_get_sender(invocation);
}

/// True when the caller set ALLOW_INTERACTIVE_AUTHORIZATION on the call.
static inline gboolean bits_invocation_allows_interaction(GDBusMethodInvocation *invocation) {
    GDBusMessage *message = g_dbus_method_invocation_get_message(invocation);
    return (g_dbus_message_get_flags(message) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
}

/// Ends a GError safely and returns its message copied with g_strdup (caller frees), or NULL.
static inline char *bits_error_take_message(GError *error) {
    if (error == NULL) return NULL;
    char *message = g_strdup(error->message);
    g_error_free(error);
    return message;
}

/// The D-Bus error name carried by a GError from a remote call (caller frees), or NULL.
static inline char *bits_error_remote_name(GError *error) {
    return error ? g_dbus_error_get_remote_error(error) : NULL;
}

#endif
