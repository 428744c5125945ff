// Feature serving lookups: {"dataframe_records": [{"<key>": v, ..., "<context>": v}, ...]}.
// Each record names the primary-key values to look up and, for on-demand features, the
// context values the feature functions take. Every record must carry every lookup key with
// a non-null scalar value: a lookup with a missing key fails on the server.
//
//   dbserve::feature_lookup_request lookup({"customer_id"});
//   lookup.add({{"customer_id", 17}, {"basket_total", 42.5}});
//   auto body = lookup.to_body();
#pragma once

#include <dbserve/payload/body_limits.hpp>
#include <dbserve/payload/json_writer.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

class feature_lookup_request {
public:
    explicit feature_lookup_request(std::vector<std::string> lookup_keys, const write_options& options = {})
        : keys_(std::move(lookup_keys)), options_(options) {
        if (keys_.empty()) fail("no lookup keys were named; give the feature table's primary key columns");
    }

    // One lookup: an object with every lookup key and any context fields.
    feature_lookup_request& add(nlohmann::json record) {
        if (failure_) return *this;
        const std::string where = "record " + std::to_string(records_.size());
        if (!record.is_object()) {
            fail(where + " is not an object");
            return *this;
        }
        for (const auto& key : keys_) {
            auto it = record.find(key);
            if (it == record.end()) {
                fail(where + " has no value for the lookup key \"" + key + "\"");
                return *this;
            }
            if (!it->is_primitive() || it->is_null()) {
                fail(where + ", lookup key \"" + key + "\" must be a string, number or boolean");
                return *this;
            }
        }
        records_.push_back(std::move(record));
        return *this;
    }

    std::size_t size() const noexcept { return records_.size(); }

    // The request, to add params or a client_request_id before body().
    model_request to_request() const {
        if (failure_) return model_request(unexpected(errc::invalid_argument, *failure_));
        if (records_.empty())
            return model_request(unexpected(errc::invalid_argument, "the lookup has no records; add at least one"));
        model_request request(model_input::from_json(input_format::dataframe_records, records_, options_));
        request.options(options_);
        return request;
    }
    result<std::string> to_body(std::size_t limit = default_body_limit) const {
        auto request = to_request();
        request.max_body_bytes(limit);
        return std::move(request).body();
    }

private:
    void fail(std::string message) {
        if (!failure_) failure_ = "feature lookup: " + std::move(message);
    }

    std::vector<std::string> keys_;
    write_options options_;
    nlohmann::json records_ = nlohmann::json::array();
    std::optional<std::string> failure_;
};

DBSERVE_END_NAMESPACE
