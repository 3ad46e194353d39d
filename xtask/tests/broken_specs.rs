//! Broken specs: each case names what it proves and the exact `file:line:column: message`
//! lines expected. Cases edit a valid base spec, so the positions refer to `BASE` below
//! (line 1 is `version: 1`).

const BASE: &str = "\
version: 1
defaults:
  timeouts: { connect_ms: 1000, request_ms: 2000 }
  retry:
    max_attempts: 3
    base_delay_ms: 10
    max_delay_ms: 100
    deadline_ms: 1000
    default_cooldown_ms: 100
    max_wait_ms: 10
    retry_statuses: [500, 503]
    retry_timeouts: true
  health:
    window_secs: 60
    min_requests: 1
    degraded: { success_rate_below: 0.9, avg_latency_ms_above: 1000 }
    down: { success_rate_below: 0.5 }
  alerts: { rate_limits_per_hour: 5, avg_latency_ms: 1000, success_rate: 0.9 }
providers:
  acme:
    name: Acme
    base_url: https://api.acme.test
    base_url_env: ACME_BASE_URL
    auth: { kind: bearer }
    keys: { env: ACME_KEYS, recommended_pool: { min: 1, max: 2 } }
    errors: { message: [/error/message], code: [/error/code] }
    endpoints:
      speak:
        health_id: acme-speak
        method: POST
        path: /v1/speak/{voice}
        request: SpeakRequest
        response: { kind: audio, content_type: audio/mpeg }
        fields:
          voice: { in: path, type: string, required: true, default: v1 }
          text: { type: string, required: true, min_length: 1, max_length: 100, default: Hi }
          model: { type: enum, name: Model, values: [fast, slow], default: fast }
          speed: { type: number, min: 0.5, max: 2 }
        rules:
          - when: { field: model, in: [fast] }
            forbid: [speed]
      render:
        health_id: acme-render
        method: POST
        path: /v1/render
        request: RenderRequest
        response:
          kind: json
          type: RenderOutput
          fields:
            url: { type: string, required: true }
          example: { url: https://cdn.acme.test/x.png }
        fields:
          prompt: { type: string, required: true }
        example_request: { prompt: A cat }
";

/// A second provider appended to `providers:`, for cross-provider checks.
const OTHER: &str = "  other:
    name: Other
    base_url: https://other.test
    base_url_env: OTHER_BASE_URL
    auth: { kind: bearer }
    keys: { env: OTHER_KEYS, recommended_pool: { min: 1, max: 1 } }
    errors: { message: [/m], code: [/c] }
    endpoints:
      go:
        health_id: other-go
        method: POST
        path: /go
        request: GoRequest
        response: { kind: audio }
";

/// A valid `capabilities:` section appended to `BASE` (from line 60).
const CAPS: &str = "capabilities:
  tts:
    endpoints:
      - endpoint: acme.speak
        request: { text: \"{text}\", voice: \"{voice}\", model: slow, speed: \"{speed}\" }
  image:
    fallback: in_order
    endpoints:
      - endpoint: acme.render
        request: { prompt: \"{prompt}\" }
        models:
          r1: { aliases: [render-1], credits: 2 }
        output: [/url]
";

struct Case {
    proves: &'static str,
    /// `(from, to)` replacements of the first occurrence in `BASE` + `append`.
    edits: &'static [(&'static str, &'static str)],
    /// Appended to `BASE` before the edits (a second provider, or nothing).
    append: &'static str,
    expected: &'static [&'static str],
}

fn spec_of(case: &Case) -> String {
    let mut spec = format!("{BASE}{}", case.append);
    for (from, to) in case.edits {
        assert!(
            spec.contains(from),
            "{}: `{from}` is not in the spec",
            case.proves
        );
        spec = spec.replacen(from, to, 1);
    }
    spec
}

const CASES: &[Case] = &[
    Case {
        proves: "declared key limits are positive; a burst needs a rate; the queue bound is positive",
        edits: &[(
            "    base_url_env: ACME_BASE_URL\n",
            "    base_url_env: ACME_BASE_URL\n    limits: { burst: 5, concurrent: 0 }\n    retry: { max_queue: 0 }\n",
        )],
        append: "",
        expected: &[
            "t.yaml:24:22: burst needs requests_per_minute",
            "t.yaml:24:37: concurrent must be greater than 0",
            "t.yaml:25:25: max_queue must be greater than 0",
        ],
    },
    Case {
        proves: "health ids become constants: they start with a letter and map to distinct names",
        edits: &[
            ("health_id: acme-speak", "health_id: 9-speak"),
            ("health_id: acme-render", "health_id: acme_render"),
            ("health_id: other-go", "health_id: acme-render"),
        ],
        append: OTHER,
        expected: &[
            "t.yaml:29:20: health_id `9-speak` must start with a letter (it is also exported as a constant)",
            "t.yaml:65:20: health_id `acme-render` gives the same constant `ACME_RENDER` as the health id at 43:20",
        ],
    },
    Case {
        proves: "cool-down bounds must be positive",
        edits: &[(
            "    retry_timeouts: true\n",
            "    retry_timeouts: true\n    max_cooldown_ms: 0\n    min_cooldown_ms: 0\n",
        )],
        append: "",
        expected: &[
            "t.yaml:13:22: max_cooldown_ms must be greater than 0",
            "t.yaml:14:22: min_cooldown_ms must be greater than 0",
        ],
    },
    Case {
        proves: "the cool-down floor cannot exceed the ceiling",
        edits: &[(
            "    retry_timeouts: true\n",
            "    retry_timeouts: true\n    max_cooldown_ms: 100\n    min_cooldown_ms: 200\n",
        )],
        append: "",
        expected: &["t.yaml:14:22: min_cooldown_ms 200 is greater than max_cooldown_ms 100"],
    },
    Case {
        proves: "body limits are positive in defaults, provider overrides and endpoints",
        edits: &[
            (
                "success_rate: 0.9 }\n",
                "success_rate: 0.9 }\n  body_limits: { json_bytes: 0, audio_bytes: 10 }\n",
            ),
            (
                "    base_url_env: ACME_BASE_URL\n",
                "    base_url_env: ACME_BASE_URL\n    body_limits: { error_bytes: 0 }\n",
            ),
            (
                "content_type: audio/mpeg }",
                "content_type: audio/mpeg, max_bytes: 0 }",
            ),
        ],
        append: "",
        expected: &[
            "t.yaml:19:30: json_bytes must be greater than 0",
            "t.yaml:25:33: error_bytes must be greater than 0",
            "t.yaml:35:71: max_bytes must be greater than 0",
        ],
    },
    Case {
        proves: "allowed origins are a scheme, a host and an optional port, nothing else",
        edits: &[(
            "    base_url_env: ACME_BASE_URL\n",
            "    base_url_env: ACME_BASE_URL\n    allowed_origins:\n      - https://ok.test\n      - http://ok.test:8080/\n      - https://x.test/path\n      - ftp://x.test\n      - https://user@x.test\n      - not a url\n",
        )],
        append: "",
        expected: &[
            "t.yaml:27:9: allowed origin `https://x.test/path` must be a scheme, host and optional port only; expected `https://host` or `http://host:port`",
            "t.yaml:28:9: allowed origin `ftp://x.test` must be a scheme, host and optional port only; expected `https://host` or `http://host:port`",
            "t.yaml:29:9: allowed origin `https://user@x.test` must be a scheme, host and optional port only; expected `https://host` or `http://host:port`",
            "t.yaml:30:9: allowed origin `not a url` is not a URL; expected `https://host` or `http://host:port`",
        ],
    },
    Case {
        proves: "every problem is reported, sorted by position",
        edits: &[
            ("path: /v1/render", "path: v1/render"),
            ("version: 1", "version: 2"),
            ("base_url_env: ACME_BASE_URL", "base_url_env: acme-url"),
        ],
        append: "",
        expected: &[
            "t.yaml:1:10: unsupported version 2; expected 1",
            "t.yaml:23:19: invalid environment variable name `acme-url`; expected ^[A-Z_][A-Z0-9_]*$",
            "t.yaml:45:15: path `v1/render` must start with `/`",
        ],
    },
    Case {
        proves: "a misspelt kind is a shape error at the value, reported with those of other blocks",
        edits: &[
            ("kind: bearer", "kind: carrier"),
            ("window_secs: 60", "window_secs: -60"),
        ],
        append: "",
        expected: &[
            "t.yaml:14:18: defaults.health.window_secs: expected an unsigned integer, found -60",
            "t.yaml:24:19: providers.acme.auth.kind: unknown auth kind \"carrier\"; expected one of bearer, header, fal_key, kling_jwt",
        ],
    },
    Case {
        proves: "a YAML syntax error is reported with its position",
        edits: &[("auth: { kind: bearer }", "auth: { kind: bearer")],
        append: "",
        expected: &["t.yaml:25:9: while parsing a flow mapping, did not find expected ',' or '}'"],
    },
    Case {
        proves: "an unknown field is a serde error at the field, naming its block",
        edits: &[("    name: Acme\n", "    name: Acme\n    colour: red\n")],
        append: "",
        expected: &[
            "t.yaml:22:5: providers.acme: unknown field `colour`, expected one of name, description, client, base_url, base_url_env, auth, keys, envelope, errors, timeouts, retry, health, alerts, body_limits, stream, allowed_origins, limits, endpoints",
        ],
    },
    Case {
        proves: "a value of the wrong type is a serde error at the value",
        edits: &[("max_attempts: 3", "max_attempts: many")],
        append: "",
        expected: &[
            "t.yaml:5:19: defaults.retry.max_attempts: expected an unsigned integer, found \"many\"",
        ],
    },
    Case {
        proves: "a type error names the field path, the expected type and the value found",
        edits: &[("max_length: 100", "max_length: abc")],
        append: "",
        expected: &[
            "t.yaml:36:76: providers.acme.endpoints.speak.fields.text.max_length: expected an unsigned integer, found \"abc\"",
        ],
    },
    Case {
        proves: "a mapping where a scalar belongs is named as such",
        edits: &[("method: POST", "method: { verb: POST }")],
        append: "",
        expected: &[
            "t.yaml:30:17: providers.acme.endpoints.speak.method: expected a string, found a mapping",
        ],
    },
    Case {
        proves: "type errors in two providers are reported together",
        edits: &[
            ("min_length: 1,", "min_length: one,"),
            ("min: 1, max: 1", "min: 1, max: lots"),
        ],
        append: OTHER,
        expected: &[
            "t.yaml:36:61: providers.acme.endpoints.speak.fields.text.min_length: expected an unsigned integer, found \"one\"",
            "t.yaml:61:63: providers.other.keys.recommended_pool.max: expected an unsigned integer, found \"lots\"",
        ],
    },
    Case {
        proves: "shape errors in defaults and in a provider are reported together",
        edits: &[
            ("window_secs: 60", "window_secs: -60"),
            ("    name: Acme\n", "    name: Acme\n    colour: red\n"),
        ],
        append: "",
        expected: &[
            "t.yaml:14:18: defaults.health.window_secs: expected an unsigned integer, found -60",
            "t.yaml:22:5: providers.acme: unknown field `colour`, expected one of name, description, client, base_url, base_url_env, auth, keys, envelope, errors, timeouts, retry, health, alerts, body_limits, stream, allowed_origins, limits, endpoints",
        ],
    },
    Case {
        proves: "a missing field names the block it is missing from",
        edits: &[("        request: GoRequest\n", "")],
        append: OTHER,
        expected: &["t.yaml:68:9: providers.other.endpoints.go: missing field `request`"],
    },
    Case {
        proves: "an unknown auth kind lists the known ones",
        edits: &[("kind: bearer", "kind: carrier")],
        append: "",
        expected: &[
            "t.yaml:24:19: providers.acme.auth.kind: unknown auth kind \"carrier\"; expected one of bearer, header, fal_key, kling_jwt",
        ],
    },
    Case {
        proves: "auth kind header needs the header name",
        edits: &[("kind: bearer", "kind: header")],
        append: "",
        expected: &["t.yaml:24:19: auth kind \"header\" needs `header` (the header name)"],
    },
    Case {
        proves: "the format version must be 1",
        edits: &[("version: 1", "version: 2")],
        append: "",
        expected: &["t.yaml:1:10: unsupported version 2; expected 1"],
    },
    Case {
        proves: "a duplicate provider id is reported at the second one",
        edits: &[("  other:\n", "  acme:\n")],
        append: OTHER,
        expected: &[
            "t.yaml:56:3: client name `Acme` is also used by another provider (at 20:3)",
            "t.yaml:56:3: duplicate provider `acme` (first at 20:3)",
        ],
    },
    Case {
        proves: "a duplicate endpoint id is reported at the second one",
        edits: &[("      render:\n", "      speak:\n")],
        append: "",
        expected: &["t.yaml:42:7: duplicate endpoint `speak` (first at 28:7)"],
    },
    Case {
        proves: "health ids are unique across providers",
        edits: &[("health_id: other-go", "health_id: acme-speak")],
        append: OTHER,
        expected: &["t.yaml:65:20: duplicate health id `acme-speak` (first at 29:20)"],
    },
    Case {
        proves: "environment variables are unique across providers",
        edits: &[("env: OTHER_KEYS", "env: ACME_KEYS")],
        append: OTHER,
        expected: &["t.yaml:61:18: duplicate environment variable `ACME_KEYS` (first at 25:18)"],
    },
    Case {
        proves: "environment variable names must be ^[A-Z_][A-Z0-9_]*$",
        edits: &[("base_url_env: ACME_BASE_URL", "base_url_env: acme-url")],
        append: "",
        expected: &[
            "t.yaml:23:19: invalid environment variable name `acme-url`; expected ^[A-Z_][A-Z0-9_]*$",
        ],
    },
    Case {
        proves: "every {param} of the path is a field with in: path",
        edits: &[("path: /v1/speak/{voice}", "path: /v1/speak/{voice}/{style}")],
        append: "",
        expected: &["t.yaml:31:15: path parameter `{style}` is not a declared field"],
    },
    Case {
        proves: "a field with in: path appears in the path",
        edits: &[("path: /v1/speak/{voice}", "path: /v1/speak")],
        append: "",
        expected: &["t.yaml:35:11: field `voice` is `in: path` but the path has no `{voice}`"],
    },
    Case {
        proves: "a path parameter must not be a body field",
        edits: &[("path: /v1/render", "path: /v1/render/{prompt}")],
        append: "",
        expected: &["t.yaml:45:15: path parameter `{prompt}` is a field without `in: path`"],
    },
    Case {
        proves: "a malformed path template is reported at the path, saying what and where",
        edits: &[("path: /v1/speak/{voice}", "path: /v1/speak/{voice")],
        append: "",
        expected: &[
            "t.yaml:31:15: path `/v1/speak/{voice` has a `{` at position 11 that is never closed",
        ],
    },
    Case {
        proves: "a path placeholder appears once",
        edits: &[("path: /v1/speak/{voice}", "path: /v1/speak/{voice}/{voice}")],
        append: "",
        expected: &[
            "t.yaml:31:15: path `/v1/speak/{voice}/{voice}` has the placeholder `{voice}` twice (at positions 11 and 19)",
        ],
    },
    Case {
        proves: "a path placeholder is a whole segment (the simulator matches segments)",
        edits: &[("path: /v1/speak/{voice}", "path: /v1/speak/{voice}.mp3")],
        append: "",
        expected: &[
            "t.yaml:31:15: path `/v1/speak/{voice}.mp3` has a placeholder `{voice}` at position 11 that is not a whole path segment; a placeholder stands for one segment, as in `/items/{voice}/`",
        ],
    },
    Case {
        proves: "a path has no query string",
        edits: &[("path: /v1/render", "path: /v1/render?x=1")],
        append: "",
        expected: &[
            "t.yaml:45:15: path `/v1/render?x=1` has `?` at position 11; a path template has no query string",
        ],
    },
    Case {
        proves: "paths start with /",
        edits: &[("path: /v1/render", "path: v1/render")],
        append: "",
        expected: &["t.yaml:45:15: path `v1/render` must start with `/`"],
    },
    Case {
        proves: "methods are GET, POST, PUT, DELETE or PATCH",
        edits: &[("method: POST", "method: FETCH")],
        append: "",
        expected: &[
            "t.yaml:30:17: providers.acme.endpoints.speak.method: unknown method \"FETCH\"; expected one of GET, POST, PUT, DELETE, PATCH",
        ],
    },
    Case {
        proves: "an empty enum is an error (and so are rule values it no longer has)",
        edits: &[("values: [fast, slow], default: fast", "values: []")],
        append: "",
        expected: &[
            "t.yaml:37:53: enum field `model` has no values",
            "t.yaml:40:40: `fast` is not a value of `model`, which has none",
        ],
    },
    Case {
        proves: "derived variant names must not collide",
        edits: &[("values: [fast, slow]", "values: [fast, FAST]")],
        append: "",
        expected: &[
            "t.yaml:37:60: variant name `Fast` is used twice (first at 37:54); set `names`",
        ],
    },
    Case {
        proves: "a default must be one of the enum's values",
        edits: &[("default: fast", "default: medium")],
        append: "",
        expected: &["t.yaml:37:76: invalid default for `model`: `medium` is not one of fast, slow"],
    },
    Case {
        proves: "number min must not exceed max",
        edits: &[("min: 0.5, max: 2", "min: 3, max: 2")],
        append: "",
        expected: &["t.yaml:38:39: min 3 is greater than max 2"],
    },
    Case {
        proves: "min_length must not exceed max_length",
        edits: &[(
            "min_length: 1, max_length: 100",
            "min_length: 200, max_length: 100",
        )],
        append: "",
        expected: &["t.yaml:36:61: min_length 200 is greater than max_length 100"],
    },
    Case {
        proves: "an attribute must fit the field type",
        edits: &[("min: 0.5, max: 2 }", "min: 0.5, max: 2, max_length: 3 }")],
        append: "",
        expected: &["t.yaml:38:64: `max_length` does not apply to a number field"],
    },
    Case {
        proves: "the recommended pool min is at least 1",
        edits: &[("min: 1, max: 2 } }", "min: 0, max: 2 } }")],
        append: "",
        expected: &["t.yaml:25:54: recommended pool min must be at least 1"],
    },
    Case {
        proves: "keys are re-read at a positive interval",
        edits: &[("max: 2 } }", "max: 2 }, reload_secs: 0 }")],
        append: "",
        expected: &["t.yaml:25:80: reload_secs must be greater than 0"],
    },
    Case {
        proves: "a daily key budget counts credits or calls, not both",
        edits: &[(
            "max: 2 } }",
            "max: 2 }, daily_budget: { calls: 5, credits: 9 } }",
        )],
        append: "",
        expected: &["t.yaml:25:102: daily_budget takes one of credits or calls, not both"],
    },
    Case {
        proves: "a key secret has a name and its override is a variable name",
        edits: &[(
            "max: 2 } }",
            "max: 2 }, source: { kind: secrets_manager, secret: \"\", override_env: bad-name } }",
        )],
        append: "",
        expected: &[
            "t.yaml:25:108: key secret name must not be empty",
            "t.yaml:25:126: invalid environment variable name `bad-name`; expected ^[A-Z_][A-Z0-9_]*$",
        ],
    },
    Case {
        proves: "the recommended pool min must not exceed max",
        edits: &[("min: 1, max: 2 } }", "min: 3, max: 2 } }")],
        append: "",
        expected: &["t.yaml:25:54: recommended pool min 3 is greater than max 2"],
    },
    Case {
        proves: "rates are in 0..=1",
        edits: &[(
            "down: { success_rate_below: 0.5 }",
            "down: { success_rate_below: 1.5 }",
        )],
        append: "",
        expected: &[
            "t.yaml:17:33: down.success_rate_below 1.5 is greater than degraded.success_rate_below 0.9",
            "t.yaml:17:33: success_rate_below 1.5 is out of range; expected 0 to 1",
        ],
    },
    Case {
        proves: "alert success rate is in 0..=1",
        edits: &[("success_rate: 0.9 }", "success_rate: -0.1 }")],
        append: "",
        expected: &["t.yaml:18:74: success_rate -0.1 is out of range; expected 0 to 1"],
    },
    Case {
        proves: "latency thresholds are greater than 0",
        edits: &[("avg_latency_ms_above: 1000", "avg_latency_ms_above: 0")],
        append: "",
        expected: &["t.yaml:16:64: avg_latency_ms_above must be greater than 0"],
    },
    Case {
        proves: "the health window is greater than 0",
        edits: &[("window_secs: 60", "window_secs: 0")],
        append: "",
        expected: &["t.yaml:14:18: window_secs must be greater than 0"],
    },
    Case {
        proves: "a provider override is checked at its own position",
        edits: &[(
            "    errors: { message: [/error/message], code: [/error/code] }\n",
            "    errors: { message: [/error/message], code: [/error/code] }\n    alerts: { success_rate: 2 }\n",
        )],
        append: "",
        expected: &["t.yaml:27:29: success_rate 2 is out of range; expected 0 to 1"],
    },
    Case {
        proves: "rules refer to declared fields",
        edits: &[("forbid: [speed]", "forbid: [pitch]")],
        append: "",
        expected: &["t.yaml:41:22: rule refers to unknown field `pitch`"],
    },
    Case {
        proves: "rule values must be values of the enum",
        edits: &[("in: [fast]", "in: [turbo]")],
        append: "",
        expected: &["t.yaml:40:40: `turbo` is not a value of `model`; expected one of fast, slow"],
    },
    Case {
        proves: "allowed values must be values of the enum",
        edits: &[(
            "            forbid: [speed]\n",
            "            forbid: [speed]\n            allow: { model: [medium] }\n",
        )],
        append: "",
        expected: &["t.yaml:42:30: `medium` is not a value of `model`; expected one of fast, slow"],
    },
    Case {
        proves: "a rule condition must be an enum field",
        edits: &[("field: model", "field: text")],
        append: "",
        expected: &["t.yaml:40:28: rule condition field `text` must be an enum field, not string"],
    },
    Case {
        proves: "a required field cannot be forbidden",
        edits: &[("forbid: [speed]", "forbid: [text]")],
        append: "",
        expected: &["t.yaml:41:22: cannot forbid `text`: it is a required field"],
    },
    Case {
        proves: "a job with flow kling_task needs a poll_path",
        edits: &[(
            "          kind: json\n",
            "          kind: job\n          flow: kling_task\n",
        )],
        append: "",
        expected: &["t.yaml:49:17: flow kling_task needs `poll_path` containing `{task_id}`"],
    },
    Case {
        proves: "a kling_task poll_path contains {task_id}",
        edits: &[(
            "          kind: json\n",
            "          kind: job\n          flow: kling_task\n          poll_path: /v1/render/{id}\n",
        )],
        append: "",
        expected: &["t.yaml:50:22: poll_path `/v1/render/{id}` must contain `{task_id}`"],
    },
    Case {
        proves: "a kling_task poll_path has no placeholder but {task_id}",
        edits: &[(
            "          kind: json\n",
            "          kind: job\n          flow: kling_task\n          poll_path: /v1/render/{task_id}/{part}\n",
        )],
        append: "",
        expected: &[
            "t.yaml:50:22: poll_path `/v1/render/{task_id}/{part}` may only contain `{task_id}`, found `{part}`",
        ],
    },
    Case {
        proves: "a malformed poll_path is a template error at the poll_path",
        edits: &[(
            "          kind: json\n",
            "          kind: job\n          flow: kling_task\n          poll_path: /v1/render/{task_id\n",
        )],
        append: "",
        expected: &[
            "t.yaml:50:22: poll_path `/v1/render/{task_id` has a `{` at position 12 that is never closed",
        ],
    },
    Case {
        proves: "a misspelt job flow is a shape error at the value that lists the flows",
        edits: &[(
            "          kind: json\n",
            "          kind: job\n          flow: kling\n",
        )],
        append: "",
        expected: &[
            "t.yaml:49:17: providers.acme.endpoints.render.response.flow: unknown job flow \"kling\"; expected one of fal_queue, kling_task",
        ],
    },
    Case {
        proves: "a json response needs a type",
        edits: &[("          type: RenderOutput\n", "")],
        append: "",
        expected: &[
            "t.yaml:48:11: a json response needs `type` (the Rust name of the output document)",
        ],
    },
    Case {
        proves: "type names are valid Rust type names",
        edits: &[("request: SpeakRequest", "request: speak_request")],
        append: "",
        expected: &[
            "t.yaml:32:18: `speak_request` is not a valid Rust type name (expected PascalCase ASCII letters and digits, starting with an uppercase letter)",
        ],
    },
    Case {
        proves: "type names must not shadow names the generated code uses",
        edits: &[("request: RenderRequest", "request: String")],
        append: "",
        expected: &["t.yaml:46:18: type name `String` is reserved (the generated code uses it)"],
    },
    Case {
        proves: "type names are unique within a provider",
        edits: &[("request: RenderRequest", "request: SpeakRequest")],
        append: "",
        expected: &[
            "t.yaml:46:18: duplicate type name `SpeakRequest` in this provider (first at 32:18)",
        ],
    },
    Case {
        proves: "a field may use an enum declared on another endpoint of its provider",
        edits: &[(
            "          prompt: { type: string, required: true }\n",
            "          prompt: { type: string, required: true }\n          model: { type: enum, name: Model, default: slow }\n",
        )],
        append: "",
        expected: &["<no error>"],
    },
    Case {
        proves: "an enum without values must name an enum declared in its provider",
        edits: &[(
            "          prompt: { type: string, required: true }\n",
            "          prompt: { type: string, required: true }\n          model: { type: enum, name: Mode }\n",
        )],
        append: "",
        expected: &[
            "t.yaml:55:38: unknown enum `Mode`: no enum field of provider `acme` declares it with `values`",
        ],
    },
    Case {
        proves: "an enum without values cannot use an enum of another provider",
        edits: &[(
            "        response: { kind: audio }\n",
            "        response: { kind: audio }\n        fields:\n          model: { type: enum, name: Model }\n",
        )],
        append: OTHER,
        expected: &[
            "t.yaml:71:38: enum `Model` is declared by provider `acme` (at 37:38); a field can only share an enum of its own provider",
        ],
    },
    Case {
        proves: "a field referring to an enum cannot change it",
        edits: &[(
            "          prompt: { type: string, required: true }\n",
            "          prompt: { type: string, required: true }\n          model: { type: enum, name: Model, open: true }\n",
        )],
        append: "",
        expected: &[
            "t.yaml:55:38: `open` belongs where enum `Model` is declared (at 37:38), not on a field that refers to it",
        ],
    },
    Case {
        proves: "a referring field's default must be one of the declaration's values",
        edits: &[(
            "          prompt: { type: string, required: true }\n",
            "          prompt: { type: string, required: true }\n          model: { type: enum, name: Model, default: medium }\n",
        )],
        append: "",
        expected: &["t.yaml:55:54: invalid default for `model`: `medium` is not one of fast, slow"],
    },
    Case {
        proves: "two enums declared with values under one name still clash",
        edits: &[(
            "          prompt: { type: string, required: true }\n",
            "          prompt: { type: string, required: true }\n          model: { type: enum, name: Model, values: [fast] }\n",
        )],
        append: "",
        expected: &["t.yaml:55:38: duplicate type name `Model` in this provider (first at 37:38)"],
    },
    Case {
        proves: "endpoint ids are Rust identifiers",
        edits: &[("      render:\n", "      Render:\n")],
        append: "",
        expected: &[
            "t.yaml:42:7: endpoint id `Render` is not a valid Rust identifier (expected lowercase ASCII letters, digits and `_`, starting with a letter)",
        ],
    },
    Case {
        proves: "the example matches the response fields",
        edits: &[(
            "example: { url: https://cdn.acme.test/x.png }",
            "example: { url: 5, size: 3 }",
        )],
        append: "",
        expected: &[
            "t.yaml:52:20: example does not match the response fields: /size: not a declared field",
            "t.yaml:52:20: example does not match the response fields: /url: expected a string, got 5",
        ],
    },
    Case {
        proves: "an audio endpoint may stream, from its own path or another with the same placeholders",
        edits: &[
            (
                "response: { kind: audio, content_type: audio/mpeg }",
                "response:\n          kind: audio\n          stream:\n            path: /v1/speak/{voice}/stream\n            idle_timeout_ms: 500\n            events: { type_field: type, delta: a.delta, audio_field: audio, done: a.done }",
            ),
            (
                "success_rate: 0.9 }\n",
                "success_rate: 0.9 }\n  stream: { max_bytes: 1000 }\n",
            ),
        ],
        append: "",
        expected: &["<no error>"],
    },
    Case {
        proves: "a stream block applies to audio responses only",
        edits: &[(
            "          kind: json\n",
            "          kind: json\n          stream: {}\n",
        )],
        append: "",
        expected: &["t.yaml:49:19: `stream` does not apply to a json response"],
    },
    Case {
        proves: "a stream path has exactly the placeholders of the endpoint's path",
        edits: &[(
            "response: { kind: audio, content_type: audio/mpeg }",
            "response:\n          kind: audio\n          stream:\n            path: /v1/speak/{style}/stream",
        )],
        append: "",
        expected: &[
            "t.yaml:36:19: stream path `/v1/speak/{style}/stream` has `{style}`, which the endpoint's path `/v1/speak/{voice}` does not; both are rendered from the same request",
            "t.yaml:36:19: stream path `/v1/speak/{style}/stream` lacks `{voice}` of the endpoint's path `/v1/speak/{voice}`; both are rendered from the same request",
        ],
    },
    Case {
        proves: "a malformed stream path is a template error at the stream path",
        edits: &[(
            "response: { kind: audio, content_type: audio/mpeg }",
            "response:\n          kind: audio\n          stream:\n            path: /v1/speak/{voice",
        )],
        append: "",
        expected: &[
            "t.yaml:36:19: stream path `/v1/speak/{voice` has a `{` at position 11 that is never closed",
        ],
    },
    Case {
        proves: "a stream path is a route: it must not be another endpoint's",
        edits: &[
            (
                "response: { kind: audio, content_type: audio/mpeg }",
                "response:\n          kind: audio\n          stream:\n            path: /v1/speak/{voice}/live",
            ),
            ("path: /v1/render", "path: /v1/speak/{x}/live"),
            (
                "prompt: { type: string, required: true }",
                "prompt: { type: string, required: true }\n          x: { in: path, type: string, required: true, default: a }",
            ),
        ],
        append: "",
        expected: &[
            "t.yaml:36:19: the stream path of endpoint `speak` has the same method and path as endpoint `render`",
        ],
    },
    Case {
        proves: "stream limits are positive in defaults, provider overrides and endpoints",
        edits: &[
            (
                "success_rate: 0.9 }\n",
                "success_rate: 0.9 }\n  stream: { idle_timeout_ms: 0 }\n",
            ),
            (
                "    base_url_env: ACME_BASE_URL\n",
                "    base_url_env: ACME_BASE_URL\n    stream: { max_bytes: 0 }\n",
            ),
            (
                "content_type: audio/mpeg }",
                "content_type: audio/mpeg, stream: { idle_timeout_ms: 0, max_bytes: 0 } }",
            ),
        ],
        append: "",
        expected: &[
            "t.yaml:19:30: idle_timeout_ms must be greater than 0",
            "t.yaml:25:26: max_bytes must be greater than 0",
            "t.yaml:35:87: idle_timeout_ms must be greater than 0",
            "t.yaml:35:101: max_bytes must be greater than 0",
        ],
    },
    Case {
        proves: "event names are non-empty, and the delta event is not the done event",
        edits: &[(
            "content_type: audio/mpeg }",
            "content_type: audio/mpeg, stream: { events: { type_field: \"\", delta: d, audio_field: \" \", done: d } } }",
        )],
        append: "",
        expected: &[
            "t.yaml:33:92: events.type_field must not be empty",
            "t.yaml:33:119: events.audio_field must not be empty",
            "t.yaml:33:130: events.done `d` is also the delta event type; the stream would end at its first chunk",
        ],
    },
    Case {
        proves: "an unknown stream field is a shape error naming the block and the known fields",
        edits: &[(
            "content_type: audio/mpeg }",
            "content_type: audio/mpeg, stream: { chunk_bytes: 5 } }",
        )],
        append: "",
        expected: &[
            "t.yaml:33:70: providers.acme.endpoints.speak.response.stream: unknown field `chunk_bytes`, expected one of path, idle_timeout_ms, max_bytes, events",
        ],
    },
    Case {
        proves: "events need every one of their fields",
        edits: &[(
            "content_type: audio/mpeg }",
            "content_type: audio/mpeg, stream: { events: { type_field: type, delta: d, audio_field: a } } }",
        )],
        append: "",
        expected: &[
            "t.yaml:33:108: providers.acme.endpoints.speak.response.stream.events: missing field `done`",
        ],
    },
    Case {
        proves: "a streaming endpoint's methods do not clash with another endpoint's",
        edits: &[
            ("      render:\n", "      speak_stream:\n"),
            (
                "content_type: audio/mpeg }",
                "content_type: audio/mpeg, stream: {} }",
            ),
        ],
        append: "",
        expected: &[
            "t.yaml:33:68: the stream method `speak_stream_with` of endpoint `speak` clashes with a method of endpoint `speak_stream`",
            "t.yaml:33:68: the stream method `speak_stream` of endpoint `speak` clashes with a method of endpoint `speak_stream`",
        ],
    },
    Case {
        proves: "a minimal capabilities section is valid",
        edits: &[],
        append: CAPS,
        expected: &["<no error>"],
    },
    Case {
        proves: "an example request is checked against the fields: types, names, limits, enum values",
        edits: &[(
            "example_request: { prompt: A cat }",
            "example_request: { prompt: 5, size: big }",
        )],
        append: "",
        expected: &[
            "t.yaml:55:36: /prompt: expected a string, got 5",
            "t.yaml:55:39: /size: not a declared field; expected one of prompt",
        ],
    },
    Case {
        proves: "an example request is checked against limits, enum values and the rules",
        edits: &[(
            "        request: SpeakRequest\n",
            "        request: SpeakRequest\n        example_request: { voice: v2, text: \"\", speed: 3, model: fast }\n",
        )],
        append: "",
        expected: &[
            "t.yaml:33:45: /text: 0 characters, fewer than min_length 1",
            "t.yaml:33:56: /speed: 3 is more than max 2",
            "t.yaml:33:56: /speed: not allowed when `model` is `fast`",
        ],
    },
    Case {
        proves: "an example request names enum values of the field; required fields need a value",
        edits: &[(
            "        request: SpeakRequest\n",
            "        request: SpeakRequest\n        example_request: { voice: null, model: medium, text: [a] }\n",
        )],
        append: "",
        expected: &[
            "t.yaml:33:35: /voice: required field is null",
            "t.yaml:33:48: /model: expected one of fast, slow, got \"medium\"",
            "t.yaml:33:62: /text: expected a string, got [\"a\"]",
        ],
    },
    Case {
        proves: "an endpoint with a required field without default needs an example request",
        edits: &[("        example_request: { prompt: A cat }\n", "")],
        append: "",
        expected: &[
            "t.yaml:42:7: endpoint `render` needs `example_request`: required field `prompt` has no default",
        ],
    },
    Case {
        proves: "a candidate names an existing endpoint whose answer fits the capability",
        edits: &[
            (
                "      - endpoint: acme.speak\n",
                "      - endpoint: acme.nope\n",
            ),
            (
                "      - endpoint: acme.render\n",
                "      - endpoint: acme.speak\n",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:59:19: unknown endpoint `acme.nope`; expected `provider.endpoint`, one of acme.speak, acme.render",
            "t.yaml:64:19: `acme.speak` answers audio; an image endpoint must answer json or job",
            "t.yaml:65:20: /prompt: not a declared field; expected one of voice, text, model, speed",
            "t.yaml:68:18: `output` does not apply to an audio endpoint: the answer is the audio",
        ],
    },
    Case {
        proves: "placeholders are the capability's inputs; `model` is not one; keys are fields",
        edits: &[
            ("text: \"{text}\", voice", "text: \"{txt}\", voice"),
            (
                "request: { prompt: \"{prompt}\" }",
                "request: { prompt: \"{model}\", size: \"{size}\" }",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:60:26: `{txt}` is not an input of tts; expected one of {text}, {voice}, {speed}",
            "t.yaml:65:28: `{model}` is not a placeholder: the image input `model` selects one of `models`; set the model's field in `models.<name>.request`",
            "t.yaml:65:39: /size: not a declared field; expected one of prompt",
        ],
    },
    Case {
        proves: "required fields are covered by the template or every model's request",
        edits: &[
            ("request: { prompt: \"{prompt}\" }", "request: {}"),
            (
                "r1: { aliases: [render-1], credits: 2 }",
                "r1: { request: { prompt: fixed } }\n          r2: { aliases: [r1] }",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:65:18: required field `prompt` of `acme.render` has no default and it is not set by the request template (model `r2`)",
            "t.yaml:68:27: model name `r1` is already used in this entry (at 67:11)",
        ],
    },
    Case {
        proves: "credits_by refers to declared options and values; options are inputs and type-check",
        edits: &[
            (
                "prompt: { type: string, required: true }\n",
                "prompt: { type: string, required: true }\n          size: { type: enum, name: Size, values: [s, l] }\n",
            ),
            (
                "request: { prompt: \"{prompt}\" }",
                "request: { prompt: \"{prompt}\", size: \"{size}\" }",
            ),
            (
                "r1: { aliases: [render-1], credits: 2 }",
                "r1: { options: { size: { small: s, huge: xl }, speed: [1] }, credits_by: { size: { small: 1, big: 3 }, quality: { hd: 2 } } }",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:68:52: /size: expected one of s, l, got \"xl\"",
            "t.yaml:68:58: `speed` is not an option of image; expected one of size, quality",
            "t.yaml:68:104: credits_by value `big` is not a value of option `size`; expected one of small, huge",
            "t.yaml:68:114: credits_by option `quality` is not one of the model's `options`",
        ],
    },
    Case {
        proves: "voices only on tts, with a voice placeholder; names and ids check against the voice field",
        edits: &[
            (
                "speed: \"{speed}\" }\n",
                "speed: \"{speed}\" }\n        voices: { names: { Alloy: 5 }, ids: { length: 0, as: \"{text}\" } }\n",
            ),
            (
                "        output: [/url]\n",
                "        output: [/url]\n        voices: { names: { a: b } }\n",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:61:28: voice name `Alloy` must be lowercase",
            "t.yaml:61:35: /voice: expected a string, got 5",
            "t.yaml:61:55: length must be greater than 0",
            "t.yaml:61:62: `{text}` is not allowed here; a voice id template takes only `{voice}`",
            "t.yaml:70:17: `voices` only applies to tts, not image",
        ],
    },
    Case {
        proves: "output pointers start with / and walk the response fields; audio has no output",
        edits: &[
            (
                "output: [/url]",
                "output: [url, /url/x, /nope, { pointer: /url, inline: png }]",
            ),
            (
                "speed: \"{speed}\" }\n",
                "speed: \"{speed}\" }\n        output: [/x]\n",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:61:18: `output` does not apply to an audio endpoint: the answer is the audio",
            "t.yaml:69:18: output pointer `url` must start with `/`",
            "t.yaml:69:23: output pointer `/url/x`: `x` under a string field",
            "t.yaml:69:31: output pointer `/nope`: no field `nope`; expected one of url",
            "t.yaml:69:38: inline `png` is not a media type",
        ],
    },
    Case {
        proves: "a tts entry takes no models; other entries need models and output; fallback is closed",
        edits: &[
            (
                "speed: \"{speed}\" }\n",
                "speed: \"{speed}\" }\n        models: { m: {} }\n",
            ),
            (
                "        models:\n          r1: { aliases: [render-1], credits: 2 }\n        output: [/url]\n",
                "",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:61:19: a tts entry takes no `models`",
            "t.yaml:65:19: an image entry needs `models` (the first is its default model)",
            "t.yaml:65:19: an image entry on a json endpoint needs `output` (where the URLs are)",
        ],
    },
    Case {
        proves: "a provider id must not be a module of the generated code",
        edits: &[("  acme:\n", "  capabilities:\n")],
        append: "",
        expected: &[
            "t.yaml:20:3: provider id `capabilities` clashes with a module of the generated code",
        ],
    },
    Case {
        proves: "free text fills a string field, speed a number; options restrict optional inputs",
        edits: &[
            (
                "text: \"{text}\", voice: \"{voice}\", model: slow, speed: \"{speed}\"",
                "text: \"{text}\", voice: \"{speed}\", model: \"{text}\"",
            ),
            (
                "r1: { aliases: [render-1], credits: 2 }",
                "r1: { options: { prompt: [a] } }",
            ),
        ],
        append: CAPS,
        expected: &[
            "t.yaml:60:43: /voice: `{speed}` cannot fill a string field",
            "t.yaml:60:61: /model: `{text}` cannot fill an enum field",
            "t.yaml:67:28: `prompt` is not an option of image; expected one of size, quality",
        ],
    },
    Case {
        proves: "the fallback policy is fastest_healthy or in_order",
        edits: &[("fallback: in_order", "fallback: random")],
        append: CAPS,
        expected: &[
            "t.yaml:62:15: capabilities.image.fallback: unknown variant `random`, expected one of fastest_healthy, in_order",
        ],
    },
];

#[test]
fn broken_specs_report_every_problem_at_its_position() {
    let mut failures = Vec::new();
    for case in CASES {
        let spec = spec_of(case);
        let actual = match xtask::render("t.yaml", &spec) {
            Ok(_) => vec!["<no error>".to_owned()],
            Err(xtask::Error::Spec(d)) => d.lines(),
            Err(other) => vec![format!("<unexpected error: {other}>")],
        };
        if actual != case.expected {
            failures.push(format!(
                "{}:\n  expected: {:#?}\n  actual:   {:#?}",
                case.proves, case.expected, actual
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_spec_that_is_not_utf8_is_an_error_at_the_first_bad_byte() {
    // Latin-1 `é` (0xE9) in the provider's name, after the two-byte UTF-8 `ü` (a column is a
    // character, not a byte).
    let spec = BASE.replacen("name: Acme", "name: Acmü\u{0}", 1);
    let bytes: Vec<u8> = spec
        .into_bytes()
        .into_iter()
        .map(|b| if b == 0 { 0xE9 } else { b })
        .collect();
    let lines = match xtask::render_bytes("t.yaml", &bytes) {
        Err(xtask::Error::Spec(d)) => d.lines(),
        other => panic!("expected a spec error, got {other:?}"),
    };
    assert_eq!(
        lines,
        ["t.yaml:21:15: invalid UTF-8 (byte 0xE9); the spec must be UTF-8 text"]
    );
    // Valid UTF-8 goes through unchanged.
    xtask::render_bytes("t.yaml", BASE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_base_spec_is_valid() {
    xtask::render("t.yaml", BASE).unwrap_or_else(|e| panic!("{e}"));
    xtask::render("t.yaml", &format!("{BASE}{OTHER}")).unwrap_or_else(|e| panic!("{e}"));
}

/// Prints every case's actual lines (run with `--ignored --nocapture` when adding cases).
#[test]
#[ignore]
fn print_actual() {
    for case in CASES {
        let lines = match xtask::render("t.yaml", &spec_of(case)) {
            Ok(_) => vec!["<no error>".to_owned()],
            Err(e) => e.to_string().lines().map(str::to_owned).collect(),
        };
        println!("{}", case.proves);
        for l in lines {
            println!("    {l:?},");
        }
    }
}

/// A model's request and its option values are checked against the endpoint's rules for that
/// model (the way DALL-E 3 only takes some sizes), on the `capabilities.yaml` edge-case spec.
#[test]
fn model_requests_and_option_values_obey_the_rules_of_their_model() {
    let spec = include_str!("specs/capabilities.yaml")
        .replacen("quality: [draft]\n", "quality: [draft, fine]\n", 1)
        .replacen(
            "request: { model: pic-1 }",
            "request: { model: pic-1, count: 3 }",
            1,
        );
    let lines = match xtask::render("capabilities.yaml", &spec) {
        Err(xtask::Error::Spec(d)) => d.lines(),
        other => panic!("expected a spec error, got {other:?}"),
    };
    assert_eq!(
        lines,
        [
            "capabilities.yaml:140:45: /count: 3 is more than 1 when `model` is `pic-1` (model `pic-1`)",
            "capabilities.yaml:143:32: /quality: `fine` is not allowed when `model` is `pic-1` (model `pic-1`); allowed: draft",
        ]
    );
}
