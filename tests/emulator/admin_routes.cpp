// The admin API (/admin/...: counters, info, reset, faults, endpoints, config, tokens,
// federation policies, principals' secrets, the GitHub Actions stand-in)
// and the workspace's self-description (info(), counters()).
#include "workspace.hpp"
#include "workspace_support.hpp"

#include <stdexcept>

namespace emulator {

using namespace detail;

json workspace::endpoint_summary(const endpoint& e) const {
    json out{{"name", e.name},
             {"id", e.id},
             {"kind", std::string(to_string(e.kind))},
             {"route_optimized", e.route_optimized},
             {"ready", e.ready},
             {"legacy_invocations", e.legacy_invocations}};
    if (e.route_optimized) {
        endpoint next = e;
        next.id = endpoint_id_for(e.name, e.generation + 1);
        out["host"] = data_plane_host(e);
        out["url"] = invocations_url(e);
        json served = json::object();
        for (const auto& m : e.served_models) served[m] = invocations_url(e, m);
        out["served_model_urls"] = served;
        out["authorization_details"] = authorization_details_for(e);
        out["next_host"] = data_plane_host(next);
        out["next_url"] = invocations_url(next);
    }
    out["workspace_url"] = workspace_url() + "/serving-endpoints/" + e.name + "/invocations";
    out["served_models"] = e.served_models;
    return out;
}

json workspace::info_locked() const {
    const std::string admin_origin = origin(options_.address, options_.port);
    json principals = json::object();
    for (const auto& p : principals_) {
        json permissions = json::object();
        for (const auto& [name, actions] : p.actions) permissions[name] = actions;
        principals[p.name] = json{{"client_id", p.client_id}, {"client_secret", p.client_secret}, {"permissions", permissions}};
    }
    json endpoints = json::object();
    json resolve = json::object();
    json curl_resolve = json::array();
    auto add_host = [&](const std::string& host) {
        if (resolve.contains(host)) return;
        resolve[host] = options_.address + ":" + std::to_string(options_.port);
        curl_resolve.push_back(host + ":" + std::to_string(options_.port) + ":" + options_.address);
    };
    add_host(options_.workspace_host);
    for (const auto& e : endpoints_) {
        endpoints[e.name] = endpoint_summary(e);
        if (e.route_optimized) {
            add_host(endpoints[e.name]["host"].get<std::string>());
            add_host(endpoints[e.name]["next_host"].get<std::string>());
        }
    }
    const auto& main = principals_.front();
    return json{{"emulator", "dbserve-emulator"},
                {"format", 1},
                {"address", options_.address},
                {"port", options_.port},
                {"workspace_host", options_.workspace_host},
                {"workspace_url", workspace_url()},
                {"workspace_id", options_.workspace_id},
                {"token_url", workspace_url() + "/oidc/v1/token"},
                {"admin_url", admin_origin + "/admin"},
                {"token_lifetime_seconds", options_.token_lifetime_seconds},
                {"service_principal", json{{"client_id", main.client_id}, {"client_secret", main.client_secret}}},
                {"principals", principals},
                {"personal_access_token", pat_},
                {"github_actions", json{{"request_url", workspace_url() + "/github-actions/idtoken?api-version=2.0"},
                                        {"request_token", github_request_token_},
                                        {"issuer", "https://token.actions.githubusercontent.com"},
                                        {"subject", github_subject_},
                                        {"jwks", github_signer_->public_jwks()}}},
                {"endpoints", endpoints},
                {"resolve", resolve},
                {"curl_resolve", curl_resolve}};
}

json workspace::info() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return info_locked();
}

json workspace::counters() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counters_;
}

http_reply workspace::admin(const http_request& request) {
    std::string path = request.target.substr(0, request.target.find('?'));
    std::vector<std::string> segments;
    split_path(path, segments);
    const bool get = request.method == "GET";
    const bool post = request.method == "POST";
    json body;
    if (post) {
        if (request.body.empty()) {
            body = json::object();
        } else {
            body = json::parse(request.body, nullptr, false);
            if (body.is_discarded())
                return service_error(400, "INVALID_PARAMETER_VALUE", "The admin request body is not valid JSON.");
        }
    }
    try {
        if (segments.size() == 2 && segments[1] == "counters" && get) return json_reply(200, counters_);
        if (segments.size() == 2 && segments[1] == "info" && get) return json_reply(200, info_locked());
        if (segments.size() == 2 && segments[1] == "reset" && post) {
            reset_locked();
            return json_reply(200, json{{"reset", true}});
        }
        if (segments.size() == 2 && segments[1] == "faults") {
            if (get || post || request.method == "DELETE") {
                if (post) {
                    json added = json::array();
                    const json specs = body.is_array() ? body : json::array({body});
                    std::vector<fault_spec> parsed;
                    for (const auto& spec : specs) parsed.push_back(parse_fault(spec));
                    for (auto& f : parsed) {
                        f.id = next_fault_id_++;
                        faults_.push_back(f);
                        added.push_back(fault_json(f));
                    }
                    return json_reply(200, json{{"added", added}});
                }
                if (request.method == "DELETE") faults_.clear();
                json list = json::array();
                for (const auto& f : faults_) list.push_back(fault_json(f));
                return json_reply(200, json{{"faults", list}});
            }
        }
        if (segments.size() == 3 && segments[1] == "faults" && segments[2] == "clear" && post) {
            faults_.clear();
            return json_reply(200, json{{"faults", json::array()}});
        }
        if (segments.size() == 3 && segments[1] == "endpoints" && (get || post)) {
            endpoint* e = find_endpoint(segments[2]);
            if (!e) return service_error(404, "RESOURCE_DOES_NOT_EXIST", "No endpoint named '" + segments[2] + "'.");
            if (post) {
                if (!body.is_object()) throw std::invalid_argument("the body must be a JSON object");
                for (const auto& item : body.items())
                    if (!item.value().is_boolean()) throw std::invalid_argument("'" + item.key() + "' must be a boolean");
                for (const auto& item : body.items()) {
                    const bool flag = item.value().get<bool>();
                    if (item.key() == "ready")
                        e->ready = flag;
                    else if (item.key() == "legacy_invocations" || item.key() == "created_before_2025_09_22")
                        e->legacy_invocations = flag;
                    else if (item.key() == "route_optimized")
                        e->route_optimized = flag;
                    else if (item.key() == "recreate") {
                        if (flag) {
                            ++e->generation;
                            e->id = endpoint_id_for(e->name, e->generation);
                        }
                    } else
                        throw std::invalid_argument("unknown endpoint setting '" + item.key() + "'");
                }
            }
            return json_reply(200, endpoint_summary(*e));
        }
        if (segments.size() == 2 && segments[1] == "config" && (get || post)) {
            if (post) {
                if (!body.is_object()) throw std::invalid_argument("the body must be a JSON object");
                for (const auto& item : body.items()) {
                    const auto& v = item.value();
                    if (item.key() == "token_type") {
                        if (!v.is_string() || v.get<std::string>().empty()) throw std::invalid_argument("'token_type' must be a string");
                        continue;
                    }
                    if (!v.is_number_integer()) throw std::invalid_argument("'" + item.key() + "' must be an integer");
                    if (item.key() == "token_lifetime_seconds" && v.get<std::int64_t>() < 1)
                        throw std::invalid_argument("'token_lifetime_seconds' must be >= 1");
                    if (item.key() == "reject_expiring_within_seconds" && v.get<std::int64_t>() < 0)
                        throw std::invalid_argument("'reject_expiring_within_seconds' must be >= 0");
                    if (item.key() == "stream_chunk_delay_ms" && (v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 60'000))
                        throw std::invalid_argument("'stream_chunk_delay_ms' must be 0 to 60000");
                    if (item.key() != "token_lifetime_seconds" && item.key() != "reject_expiring_within_seconds" &&
                        item.key() != "clock_offset_seconds" && item.key() != "advance_clock_seconds" &&
                        item.key() != "stream_chunk_delay_ms")
                        throw std::invalid_argument("unknown config setting '" + item.key() + "'");
                }
                for (const auto& item : body.items()) {
                    const auto& v = item.value();
                    if (item.key() == "token_type") options_.token_type = v.get<std::string>();
                    if (item.key() == "token_lifetime_seconds") options_.token_lifetime_seconds = v.get<int>();
                    if (item.key() == "reject_expiring_within_seconds") options_.reject_expiring_within_seconds = v.get<int>();
                    if (item.key() == "stream_chunk_delay_ms") options_.stream_chunk_delay_ms = v.get<int>();
                    if (item.key() == "clock_offset_seconds") clock_offset_seconds_ = v.get<std::int64_t>();
                    if (item.key() == "advance_clock_seconds") clock_offset_seconds_ += v.get<std::int64_t>();
                }
            }
            return json_reply(200, json{{"token_lifetime_seconds", options_.token_lifetime_seconds},
                                        {"token_type", options_.token_type},
                                        {"reject_expiring_within_seconds", options_.reject_expiring_within_seconds},
                                        {"stream_chunk_delay_ms", options_.stream_chunk_delay_ms},
                                        {"clock_offset_seconds", clock_offset_seconds_}});
        }
        if (segments.size() == 2 && segments[1] == "federation-policies") {
            if (post) {
                json added = json::array();
                const json specs = body.is_array() ? body : json::array({body});
                std::vector<federation_policy> parsed;
                for (const auto& spec : specs) parsed.push_back(parse_federation_policy(spec));
                for (auto& p : parsed) {
                    p.id = next_policy_id_++;
                    added.push_back(federation_policy_json(p));
                    federation_policies_.push_back(std::move(p));
                }
                return json_reply(200, json{{"added", added}});
            }
            if (request.method == "DELETE") federation_policies_.clear();
            if (get || request.method == "DELETE") {
                json list = json::array();
                for (const auto& p : federation_policies_) list.push_back(federation_policy_json(p));
                return json_reply(200, json{{"federation_policies", list}});
            }
        }
        if (segments.size() == 3 && segments[1] == "federation-policies" && segments[2] == "clear" && post) {
            federation_policies_.clear();
            return json_reply(200, json{{"federation_policies", json::array()}});
        }
        if (segments.size() == 3 && segments[1] == "principals" && post) {
            // Secret rotation: the old secret stops working at once.
            principal* who = nullptr;
            for (auto& p : principals_)
                if (p.name == segments[2]) who = &p;
            if (!who) return service_error(404, "RESOURCE_DOES_NOT_EXIST", "No principal named '" + segments[2] + "'.");
            if (!body.is_object()) throw std::invalid_argument("the body must be a JSON object");
            for (const auto& item : body.items())
                if (item.key() != "rotate_secret" && item.key() != "client_secret")
                    throw std::invalid_argument("unknown principal setting '" + item.key() + "'");
            if (body.contains("client_secret")) {
                if (!body["client_secret"].is_string() || body["client_secret"].get<std::string>().empty())
                    throw std::invalid_argument("'client_secret' must be a non-empty string");
                who->client_secret = body["client_secret"].get<std::string>();
            } else if (body.value("rotate_secret", false)) {
                const std::string seed = who->name + std::to_string(++sequence_);
                who->client_secret = "dose" + hex64(fnv1a(seed, 88172645463325252ull)) +
                                     hex64(fnv1a(seed, 1469598103934665603ull));
            } else {
                throw std::invalid_argument("give {\"rotate_secret\": true} or {\"client_secret\": \"...\"}");
            }
            bump("secret_rotations", "");
            return json_reply(200, json{{"name", who->name}, {"client_id", who->client_id},
                                        {"client_secret", who->client_secret}});
        }
        if (segments.size() == 2 && segments[1] == "github-actions" && post) {
            if (!body.is_object()) throw std::invalid_argument("the body must be a JSON object");
            for (const auto& item : body.items()) {
                if (item.key() != "subject" || !item.value().is_string())
                    throw std::invalid_argument("github-actions takes {\"subject\": \"...\"}");
                github_subject_ = item.value().get<std::string>();
            }
            return json_reply(200, json{{"subject", github_subject_}});
        }
        if (segments.size() == 3 && segments[1] == "tokens" && segments[2] == "revoke" && post) {
            const auto revoked = tokens_.size();
            tokens_.clear();
            return json_reply(200, json{{"revoked", revoked}});
        }
    } catch (const std::invalid_argument& e) {
        return service_error(400, "INVALID_PARAMETER_VALUE", e.what());
    }
    return service_error(404, "ENDPOINT_NOT_FOUND", "No admin API for '" + request.method + " " + path + "'.");
}

}  // namespace emulator
