// Fixed-arity static-inline wrappers for libcurl's variadic functions (curl_easy_setopt,
// curl_easy_getinfo, curl_multi_setopt), which do not import into Swift. Keep this file the
// only place those variadics are called.
#ifndef BITS_CCURL_SHIM_H
#define BITS_CCURL_SHIM_H
#include <curl/curl.h>

/// CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION callback shape.
typedef size_t (*bits_curl_data_callback)(char *buffer, size_t size, size_t nitems, void *userdata);
/// CURLOPT_XFERINFOFUNCTION callback shape.
typedef int (*bits_curl_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                           curl_off_t ultotal, curl_off_t ulnow);

/// curl_global_init(CURL_GLOBAL_ALL): the flag is a macro expression.
static inline CURLcode bits_curl_global_init_all(void) {
    return curl_global_init(CURL_GLOBAL_ALL);
}

static inline CURLcode bits_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bits_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bits_curl_setopt_ptr(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/// String options: libcurl copies the string (except CURLOPT_POSTFIELDS).
static inline CURLcode bits_curl_setopt_str(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bits_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list) {
    return curl_easy_setopt(handle, option, list);
}

/// CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION (and CURLOPT_READFUNCTION, same shape).
static inline CURLcode bits_curl_setopt_callback(CURL *handle, CURLoption option, bits_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}

/// CURLOPT_SEEKFUNCTION: curl rewinds a request body (a retry on a fresh connection, an
/// authentication round); returns CURL_SEEKFUNC_OK or CURL_SEEKFUNC_FAIL.
typedef int (*bits_curl_seek_callback)(void *userdata, curl_off_t offset, int origin);

static inline CURLcode bits_curl_setopt_seek_callback(CURL *handle, bits_curl_seek_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, callback);
}

static inline CURLcode bits_curl_setopt_xferinfo_callback(CURL *handle, bits_curl_xferinfo_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

/// Blob options (CURLOPT_SSLCERT_BLOB, CURLOPT_SSLKEY_BLOB): libcurl copies the bytes
/// (CURL_BLOB_COPY), so they need not outlive the call.
static inline CURLcode bits_curl_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length) {
    struct curl_blob blob;
    blob.data = (void *)data;
    blob.len = length;
    blob.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(handle, option, &blob);
}

/// CURLOPT_HTTPAUTH / CURLOPT_PROXYAUTH bits (macros with casts, which do not import).
static const unsigned long BITS_CURLAUTH_BASIC = CURLAUTH_BASIC;
static const unsigned long BITS_CURLAUTH_DIGEST = CURLAUTH_DIGEST;
static const unsigned long BITS_CURLAUTH_NTLM = CURLAUTH_NTLM;
static const unsigned long BITS_CURLAUTH_NEGOTIATE = CURLAUTH_NEGOTIATE;

static inline CURLcode bits_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode bits_curl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// The string is owned by the handle; copy it before the next call on the handle.
static inline CURLcode bits_curl_getinfo_str(CURL *handle, CURLINFO info, const char **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode bits_curl_getinfo_ptr(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode bits_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}

/// CURL_WRITEFUNC_PAUSE, for a write callback that wants curl to keep the data and pause.
static inline size_t bits_curl_writefunc_pause(void) {
    return CURL_WRITEFUNC_PAUSE;
}

/// Resumes a transfer paused by CURL_WRITEFUNC_PAUSE (curl_easy_pause(CURLPAUSE_CONT)); may call
/// the write callback before returning.
static inline CURLcode bits_curl_unpause(CURL *handle) {
    return curl_easy_pause(handle, CURLPAUSE_CONT);
}

/// The result code of a CURLMSG_DONE message (a union member in C).
static inline CURLcode bits_curl_msg_result(const CURLMsg *message) {
    return message->data.result;
}

#endif
