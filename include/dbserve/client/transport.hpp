// The Transport policy: how the library's HTTP requests reach the network.
//
// A synchronous transport has
//     dbserve::result<dbserve::http_response> send(const dbserve::http_request&,
//                                                 const dbserve::send_options&);
// An asynchronous transport has
//     void async_send(dbserve::http_request, dbserve::send_options,
//                     dbserve::completion_handler);
// and calls the handler exactly once (from any thread the transport owns).
// A client driven only by start_query() needs neither: use dbserve::no_transport.
//
// The contract (the README's "Writing a transport" says the same, with the reasons):
//
// Framing. The request's headers are exactly what the library wants sent, in order. The
//   transport adds what belongs to the wire: Host (from the URL's authority, port included
//   when it is not the scheme's default), Content-Length for a POST (always, an empty body
//   included; never Transfer-Encoding: chunked), and may add Connection / keep-alive and a
//   User-Agent when the request has none. It never adds Accept-Encoding and never
//   decompresses a body: the library reads the bytes as they came. It does not send
//   `Expect: 100-continue`. A header the request already holds is never replaced.
// Responses. Every status is a response, 1xx aside: a 3xx is returned as it is (redirects
//   are never followed, a token must not follow a Location), as are 4xx and 5xx. The
//   response carries the status, the reason phrase when there is one, every header (the
//   peer's bytes, in order, repeated names kept) and the body with the transfer coding
//   (chunked) removed.
// Timeout. send_options::timeout bounds the whole exchange, from the first connection
//   attempt to the last body byte. Zero means the library sets no deadline for this request:
//   use the transport's own default (it must have one; hanging forever is a bug).
// Streaming. When send_options::on_body_chunk is set the body goes to it, in arrival order,
//   and http_response::body stays empty. On every call `head` holds the final status, the
//   reason and all response headers (never a 1xx's); its body is empty. An empty chunk
//   need not be passed. It is called on the thread doing the I/O, never after send() returned or the
//   completion handler was called, and never concurrently for one request. The size cap
//   counts the streamed bytes too.
// Failures. An error's code says what happened, error::native_code / native_message keep
//   the transport's own code and text (never a header value: the request may hold a
//   secret), and request_may_have_been_processed says whether any request byte may have
//   reached the server (the library never repeats such a POST unless told to):
//
//     failure                                        errc                may_have_been_processed
//     the host name did not resolve                  name_resolution     no
//     connect refused / unreachable / reset before
//       any request byte was written                 connection          no
//     TLS: unknown CA (message "certificate is signed by an unknown CA"), host name
//       mismatch ("host name mismatch"), expired ("certificate expired"), self-signed
//       ("self-signed certificate"), any other handshake failure
//                                                    tls                 no
//     the deadline passed before any request byte
//       was written (resolve, connect, handshake)    timeout             no
//     the deadline passed after request bytes went
//       out (waiting for or reading the response)    timeout             yes
//     reset / closed after request bytes went out    connection          yes
//     a response larger than the transport's cap     response_too_large  yes
//     a URL the transport cannot use (not http(s),
//       malformed)                                   invalid_argument    no
//     a bearer token over plain http to a host that
//       is not loopback                              configuration       no
//     the caller cancelled (asynchronous only)       cancelled           yes once bytes went out
//   An HTTP status is never an error here: a 500 is a response with status 500.
//   A transport may send a request again on a fresh connection only when none of it was
//   written (the server had closed an idle connection) or when it is a GET without a body.
// Threads. A client shared by threads calls send() / async_send() concurrently from those
//   threads, on one transport object: both must be safe for concurrent calls (a transport
//   that is not wraps itself in a mutex, or is given to one client per thread). A completion
//   handler may be called on any thread, inside async_send() too; it may call async_send()
//   again. Handlers and on_body_chunk must not throw into the transport.
// Ownership. The client takes the transport by value and keeps it (moved into shared
//   storage), so the type must be move-constructible. A transport that cannot move (an
//   engine's HTTP singleton) is passed as dbserve::transport_ref<T>{object} (transport_ref.hpp):
//   the client then holds a pointer, and the object must outlive the client and every
//   operation it started.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <functional>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

// Receives a response body piece by piece as it arrives (streaming). `head` carries the
// final status and every header on each call; its body is empty.
using body_chunk_handler = std::function<void(const http_response& head, std::string_view chunk)>;

struct send_options {
    // The whole request must finish within this time; zero: no deadline from the library,
    // the transport's own default applies.
    std::chrono::milliseconds timeout{0};
    // When set, the body is handed over in pieces as it arrives instead of being
    // collected into http_response::body.
    body_chunk_handler on_body_chunk;
    // Inactivity limit for a streamed response (on_body_chunk set): when no byte arrives
    // for this long (from the request's start until the first byte, then between bytes),
    // the request ends with errc::timeout, request_may_have_been_processed set. Bytes that
    // keep coming never trip it; `timeout` still bounds the whole request. Zero: none.
    // libcurl enforces it with a progress callback, Beast with a timer per read.
    std::chrono::milliseconds idle_timeout{0};
};

using completion_handler = std::function<void(result<http_response>)>;

// The null Transport: a client that is only driven by poll (start_query) needs none.
struct no_transport {};

DBSERVE_END_NAMESPACE
