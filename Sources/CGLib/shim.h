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

/// Introspection XML of one interface (caller frees with g_free).
static inline char *bits_interface_xml(GDBusInterfaceInfo *info, guint indent) {
    GString *text = g_string_new(NULL);
    g_dbus_interface_info_generate_xml(info, indent, text);
    return g_string_free(text, FALSE);
}

/// Replies to a method-call message taken over by a filter: a body, or an error.
static inline void bits_send_reply(GDBusConnection *connection, GDBusMessage *call, GVariant *body) {
    GDBusMessage *reply = g_dbus_message_new_method_reply(call);
    g_dbus_message_set_body(reply, body);
    g_dbus_connection_send_message(connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
    g_object_unref(reply);
}

static inline void bits_send_error(GDBusConnection *connection, GDBusMessage *call, const char *name, const char *message) {
    GDBusMessage *reply = g_dbus_message_new_method_error_literal(call, name, message);
    g_dbus_connection_send_message(connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
    g_object_unref(reply);
}

static inline void bits_object_unref(gpointer object) { g_object_unref(object); }
static inline gpointer bits_object_ref(gpointer object) { return g_object_ref(object); }

/// g_signal_connect is a macro.
static inline gulong bits_signal_connect(gpointer instance, const char *signal, GCallback handler, gpointer data) {
    return g_signal_connect(instance, signal, handler, data);
}

/// Handlers of GNetworkMonitor::network-changed and GFileMonitor::changed, forwarded to one
/// Swift callback with the user data (signal signatures differ; the arguments are unused).
typedef void (*bits_notify_func)(gpointer data);
static inline void bits_network_changed_trampoline(GNetworkMonitor *m, gboolean available, gpointer data) {
    (void)m; (void)available; ((void (**)(gpointer))data)[0](((gpointer *)data)[1]);
}
static inline void bits_file_changed_trampoline(GFileMonitor *m, GFile *f, GFile *o, GFileMonitorEvent e, gpointer data) {
    (void)m; (void)f; (void)o; (void)e; ((void (**)(gpointer))data)[0](((gpointer *)data)[1]);
}
static inline gulong bits_connect_network_changed(GNetworkMonitor *monitor, gpointer pair) {
    return g_signal_connect(monitor, "network-changed", G_CALLBACK(bits_network_changed_trampoline), pair);
}
static inline gulong bits_connect_notify_metered(GNetworkMonitor *monitor, gpointer pair) {
    return g_signal_connect_swapped(monitor, "notify::network-metered", G_CALLBACK(((void (**)(gpointer))pair)[0]), ((gpointer *)pair)[1]);
}
static inline gulong bits_connect_file_changed(GFileMonitor *monitor, gpointer pair) {
    return g_signal_connect(monitor, "changed", G_CALLBACK(bits_file_changed_trampoline), pair);
}

/// The first proxy GIO's default resolver gives for `uri` ("direct://" for none), or NULL
/// when the resolver is GIO's dummy or fails; the callback gets a g_strdup'ed string.
typedef void (*bits_proxy_callback)(char *proxy, gpointer data);
typedef struct { bits_proxy_callback callback; gpointer data; } bits_proxy_request;
static inline void bits_proxy_lookup_done(GObject *source, GAsyncResult *result, gpointer data) {
    bits_proxy_request *request = data;
    gchar **proxies = g_proxy_resolver_lookup_finish(G_PROXY_RESOLVER(source), result, NULL);
    char *first = (proxies && proxies[0]) ? g_strdup(proxies[0]) : NULL;
    g_strfreev(proxies);
    request->callback(first, request->data);
    g_free(request);
}
static inline gboolean bits_proxy_lookup(const char *uri, bits_proxy_callback callback, gpointer data) {
    GProxyResolver *resolver = g_proxy_resolver_get_default();
    if (!g_proxy_resolver_is_supported(resolver)) return FALSE;
    bits_proxy_request *request = g_new0(bits_proxy_request, 1);
    request->callback = callback;
    request->data = data;
    g_proxy_resolver_lookup_async(resolver, uri, NULL, bits_proxy_lookup_done, request);
    return TRUE;
}

#endif
