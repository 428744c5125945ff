// Fault injection (see README "Fault injection"): parsing fault objects, matching them to
// requests, and the replies they answer with.
#include "workspace.hpp"
#include "workspace_support.hpp"

#include <set>
#include <stdexcept>

namespace emulator {

using namespace detail;

namespace {

std::string default_error_code(int status) {
    switch (status) {
        case 400: return "BAD_REQUEST";
        case 401: return "UNAUTHENTICATED";
        case 403: return "PERMISSION_DENIED";
        case 404: return "RESOURCE_DOES_NOT_EXIST";
        case 409: return "RESOURCE_CONFLICT";
        case 429: return "REQUEST_LIMIT_EXCEEDED";
        case 500: return "INTERNAL_ERROR";
        case 501: return "NOT_IMPLEMENTED";
        case 503: return "TEMPORARILY_UNAVAILABLE";
        case 504: return "DEADLINE_EXCEEDED";
        default: return "ERROR";
    }
}

std::string default_error_message(int status) {
    switch (status) {
        case 429: return "Too many requests. Please wait a moment and try again.";
        case 500: return "Internal server error.";
        case 503: return "The service is temporarily unavailable. Please try again later.";
        case 504: return "Request processing time exceeded limit";
        default: return "Injected failure with status " + std::to_string(status) + ".";
    }
}

const char* route_name(int kind) {
    // Matches the order of workspace::route.
    static const char* const names[] = {"token", "discovery", "discovery", "invocations", "invocations", "admin", "other"};
    return names[kind];
}

}  // namespace

fault_spec workspace::parse_fault(const json& spec) const {
    if (!spec.is_object()) throw std::invalid_argument("a fault must be a JSON object");
    fault_spec f;
    bool status_given = false;
    for (const auto& item : spec.items()) {
        const auto& key = item.key();
        const auto& value = item.value();
        auto need_int = [&](int minimum) {
            if (!value.is_number_integer() || value.get<std::int64_t>() < minimum || value.get<std::int64_t>() > 1000000000)
                throw std::invalid_argument("fault field '" + key + "' must be an integer >= " + std::to_string(minimum));
            return value.get<int>();
        };
        auto need_string = [&] {
            if (!value.is_string()) throw std::invalid_argument("fault field '" + key + "' must be a string");
            auto text = value.get<std::string>();
            if (key != "body" && text.find_first_of("\r\n") != std::string::npos)
                throw std::invalid_argument("fault field '" + key + "' must not hold a line break");
            return text;
        };
        if (key == "route") {
            f.route = need_string();
            if (f.route != "token" && f.route != "discovery" && f.route != "invocations" && f.route != "any")
                throw std::invalid_argument("fault route must be token, discovery, invocations or any");
        } else if (key == "endpoint") {
            f.endpoint = need_string();
        } else if (key == "kind") {
            f.kind = need_string();
            static const std::set<std::string> kinds{"status", "garbage", "delay", "drop_before", "drop_after",
                                                     "truncate_stream"};
            if (!kinds.count(f.kind))
                throw std::invalid_argument(
                    "fault kind must be status, garbage, delay, drop_before, drop_after or truncate_stream");
        } else if (key == "status") {
            f.status = need_int(200);
            // 204 and 304 carry no body, and 1xx are not final answers.
            if (f.status > 599 || f.status == 204 || f.status == 304)
                throw std::invalid_argument("fault status must be 200..599, not 204 or 304");
            status_given = true;
        } else if (key == "retry_after") {
            if (value.is_number_integer() && value.get<std::int64_t>() >= 0)
                f.retry_after = std::to_string(value.get<std::int64_t>());
            else
                f.retry_after = need_string();
        } else if (key == "retry_after_date_in") {
            // An HTTP-date that many seconds after the fault fires.
            f.retry_after_date_in = need_int(0);
        } else if (key == "body") {
            f.body = value.is_string() ? value.get<std::string>() : value.dump();
        } else if (key == "content_type") {
            f.content_type = need_string();
        } else if (key == "delay_ms") {
            f.delay_ms = need_int(0);
        } else if (key == "skip") {
            f.skip = need_int(0);
        } else if (key == "count") {
            f.count = need_int(-1);
            if (f.count == 0) throw std::invalid_argument("fault count must be positive, or -1 for until cleared");
        } else if (key == "truncate_after_chunks") {
            f.truncate_after_chunks = need_int(0);
        } else if (key == "id" || key == "fired") {
            // Echoed back by GET /admin/faults; ignored on input.
        } else {
            throw std::invalid_argument("unknown fault field '" + key + "'");
        }
    }
    if (f.kind == "garbage" && !status_given) f.status = 200;
    return f;
}

json detail::fault_json(const fault_spec& f) {
    json out{{"id", f.id}, {"route", f.route}, {"kind", f.kind}};
    if (!f.endpoint.empty()) out["endpoint"] = f.endpoint;
    if (f.kind == "status" || f.kind == "garbage") out["status"] = f.status;
    if (!f.retry_after.empty()) out["retry_after"] = f.retry_after;
    if (f.retry_after_date_in >= 0) out["retry_after_date_in"] = f.retry_after_date_in;
    if (!f.body.empty()) out["body"] = f.body;
    if (!f.content_type.empty()) out["content_type"] = f.content_type;
    if (f.delay_ms) out["delay_ms"] = f.delay_ms;
    out["skip"] = f.skip;
    out["count"] = f.count;
    out["fired"] = f.fired;
    return out;
}

void workspace::add_fault(fault_spec spec) {
    std::lock_guard<std::mutex> lock(mutex_);
    spec.id = next_fault_id_++;
    faults_.push_back(spec);
}

http_reply workspace::fault_reply(const fault_spec& spec, const classified& where) const {
    http_reply r;
    r.status = spec.status;
    if (spec.kind == "garbage") {
        r.headers.emplace_back("Content-Type", spec.content_type.empty() ? "text/html; charset=utf-8" : spec.content_type);
        r.body = spec.body.empty()
                     ? "<!doctype html><html><head><title>Sign in</title></head><body><form action=\"/login\">"
                       "Sign in to continue</form></body></html>"
                     : spec.body;
    } else {
        r.headers.emplace_back("Content-Type", spec.content_type.empty() ? "application/json" : spec.content_type);
        if (!spec.body.empty()) {
            r.body = spec.body;
        } else if (where.kind == route::token && spec.status >= 400 && spec.status < 500 && spec.status != 429) {
            r.body = json{{"error", "invalid_request"}, {"error_description", default_error_message(spec.status)}}.dump();
        } else {
            r.body = json{{"error_code", default_error_code(spec.status)}, {"message", default_error_message(spec.status)}}.dump();
        }
    }
    if (spec.retry_after_date_in >= 0)
        r.headers.emplace_back("Retry-After", http_date(now() + std::chrono::seconds(spec.retry_after_date_in)));
    else if (!spec.retry_after.empty())
        r.headers.emplace_back("Retry-After", spec.retry_after);
    return r;
}

fault_decision workspace::decide_fault(const classified& where) {
    fault_decision decision;
    const std::string name = route_name(static_cast<int>(where.kind));
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
        auto& f = *it;
        if (f.route != "any" && f.route != name) continue;
        if (!f.endpoint.empty() && f.endpoint != where.endpoint_name) continue;
        if (f.skip > 0) {
            --f.skip;
            return decision;
        }
        ++f.fired;
        bump("faults_fired", "");
        decision.fault_id = f.id;
        decision.delay = std::chrono::milliseconds(f.delay_ms);
        if (f.kind == "status" || f.kind == "garbage") {
            decision.action = fault_action::reply;
            decision.reply = fault_reply(f, where);
        } else if (f.kind == "drop_before") {
            decision.action = fault_action::drop_before;
            bump("connections_dropped", "");
            if (where.kind == route::token) bump("token_requests", "unknown");
            const char* group = where.kind == route::token ? "token_responses"
                                : (where.kind == route::invocations || where.kind == route::legacy_invocations)
                                    ? "invocations"
                                    : "discovery_responses";
            bump(group, "dropped_before_read");
        } else if (f.kind == "drop_after") {
            decision.action = fault_action::drop_after;
            bump("connections_dropped", "");
        } else if (f.kind == "truncate_stream") {
            decision.action = fault_action::truncate_stream;
            decision.truncate_after_chunks = f.truncate_after_chunks;
            bump("connections_dropped", "");
        }
        if (f.count > 0 && --f.count == 0) faults_.erase(it);
        return decision;
    }
    return decision;
}

}  // namespace emulator
