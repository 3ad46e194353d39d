//! fal's queue and Kling's tasks: progress per poll, URLs, ownership, failures and stalls.

use crate::sim_support;

use media_sdk_sim::{Faults, JobPace, Operation, Outcome, Scripted, Simulator};
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::*;

fn flux() -> FluxProRequest {
    FluxProRequest {
        image_size: Some(json!({"width": 1792, "height": 1024})),
        num_images: Some(2),
        seed: Some(7),
        ..FluxProRequest::new("A lighthouse at dusk")
    }
}

fn video() -> TextToVideoRequest {
    TextToVideoRequest {
        model_name: Some("kling-v1-6".into()),
        duration: Some("5".into()),
        cfg_scale: Some(0.5),
        external_task_id: Some("my-42".into()),
        ..TextToVideoRequest::new("A fox in the snow")
    }
}

#[tokio::test]
async fn fal_queue_runs_from_submit_to_result() {
    let sim = all_providers().start().await.unwrap();
    let fal = Caller::new(&sim, &FAL);
    let key = FAL_KEYS[0];

    let submitted = fal.call(&flux(), key).await;
    assert_eq!(submitted.status, 200);
    let submitted = submitted.json();
    let id = submitted["request_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID");
    assert_eq!(submitted["status"], "IN_QUEUE");
    let base = sim.base_url("fal");
    // The app has a sub-path (`v1.1`): the queue URLs use only owner and app.
    assert_eq!(
        submitted["status_url"],
        format!("{base}/fal-ai/flux-pro/requests/{id}/status")
    );
    assert_eq!(
        submitted["response_url"],
        format!("{base}/fal-ai/flux-pro/requests/{id}")
    );
    assert_eq!(
        submitted["cancel_url"],
        format!("{base}/fal-ai/flux-pro/requests/{id}/cancel")
    );
    let status_url = submitted["status_url"].as_str().unwrap();
    let response_url = submitted["response_url"].as_str().unwrap();

    let early = fal.fetch(Method::GET, response_url, key).await;
    assert_eq!(early.status, 400, "no result before completion");
    assert_eq!(early.json()["detail"], "Request is still in progress");

    let mut seen = Vec::new();
    loop {
        let status = fal.fetch(Method::GET, status_url, key).await;
        let body = status.json();
        assert_eq!(body["response_url"], response_url);
        let state = body["status"].as_str().unwrap().to_owned();
        assert_eq!(status.status, if state == "COMPLETED" { 200 } else { 202 });
        seen.push(state.clone());
        if state == "COMPLETED" {
            assert!(body.get("error").is_none());
            break;
        }
        assert!(seen.len() < 10, "never completed: {seen:?}");
    }
    assert_eq!(seen, ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]);

    let result = fal.fetch(Method::GET, response_url, key).await;
    assert_eq!(result.status, 200);
    let output = result.json();
    assert_eq!(output["images"].as_array().unwrap().len(), 2, "num_images");
    assert_eq!(output["seed"], 7, "seed echoed");
    assert_eq!(output["prompt"], "A lighthouse at dusk");

    let operations: Vec<Operation> = sim.requests().iter().map(|r| r.operation).collect();
    assert_eq!(
        operations,
        [
            Operation::Call,
            Operation::JobResult,
            Operation::JobStatus,
            Operation::JobStatus,
            Operation::JobStatus,
            Operation::JobResult
        ]
    );
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.endpoint == Some("flux_pro"))
    );
}

#[tokio::test]
async fn fal_urls_built_from_the_full_app_id_are_not_found() {
    let sim = all_providers()
        .job_pace("fal", JobPace::immediate())
        .start()
        .await
        .unwrap();
    let fal = Caller::new(&sim, &FAL);
    let submitted = fal.call(&flux(), FAL_KEYS[0]).await.json();
    let id = submitted["request_id"].as_str().unwrap();
    let base = sim.base_url("fal");
    let wrong = format!("{base}/fal-ai/flux-pro/v1.1/requests/{id}/status");
    assert_eq!(
        fal.fetch(Method::GET, &wrong, FAL_KEYS[0]).await.status,
        404
    );
    let other_app = format!("{base}/fal-ai/stable-audio/requests/{id}/status");
    assert_eq!(
        fal.fetch(Method::GET, &other_app, FAL_KEYS[0]).await.status,
        404
    );
    let right = submitted["status_url"].as_str().unwrap();
    let status = fal.fetch(Method::GET, right, FAL_KEYS[0]).await;
    assert_eq!(
        (status.status, status.json()["status"].clone()),
        (200, json!("COMPLETED"))
    );
}

#[tokio::test]
async fn a_job_belongs_to_the_key_that_submitted_it() {
    let sim = all_providers()
        .job_pace("fal", JobPace::immediate())
        .job_pace("kling", JobPace::immediate())
        .start()
        .await
        .unwrap();
    let fal = Caller::new(&sim, &FAL);
    let submitted = fal.call(&flux(), FAL_KEYS[0]).await.json();
    for url in ["status_url", "response_url"] {
        let other = fal
            .fetch(Method::GET, submitted[url].as_str().unwrap(), FAL_KEYS[1])
            .await;
        assert_eq!(other.status, 404, "{url} with another key");
        assert_eq!(other.json()["detail"], "Request not found");
    }
    let cancel = fal
        .fetch(
            Method::PUT,
            submitted["cancel_url"].as_str().unwrap(),
            FAL_KEYS[1],
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.json()),
        (404, json!({"status": "NOT_FOUND"}))
    );

    let kling = Caller::new(&sim, &KLING);
    let task = kling.call(&video(), KLING_KEYS[0]).await.json();
    let task_id = task["data"]["task_id"].as_str().unwrap();
    let url = format!("{}/v1/videos/text2video/{task_id}", sim.base_url("kling"));
    let other = kling.fetch(Method::GET, &url, KLING_KEYS[1]).await;
    assert_eq!(
        (other.status, other.json()["code"].as_i64()),
        (404, Some(1203))
    );
    let owner = kling.fetch(Method::GET, &url, KLING_KEYS[0]).await;
    assert_eq!(owner.json()["data"]["task_status"], "succeed");

    let not_found: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.outcome == Outcome::NotFound)
        .collect();
    assert_eq!(not_found.len(), 4);
}

#[tokio::test]
async fn fal_cancel_before_and_after_completion() {
    let sim = all_providers().start().await.unwrap();
    let fal = Caller::new(&sim, &FAL);
    let key = FAL_KEYS[0];
    let audio = StableAudioRequest {
        seconds_total: Some(10),
        ..StableAudioRequest::new("Rain on a tin roof")
    };
    let submitted = fal.call(&audio, key).await.json();
    let cancel = fal
        .fetch(Method::PUT, submitted["cancel_url"].as_str().unwrap(), key)
        .await;
    assert_eq!(
        (cancel.status, cancel.json()),
        (202, json!({"status": "CANCELLATION_REQUESTED"}))
    );
    let status = fal
        .fetch(Method::GET, submitted["status_url"].as_str().unwrap(), key)
        .await
        .json();
    assert_eq!(status["status"], "COMPLETED");
    assert_eq!(status["error_type"], "client_cancelled");
    let result = fal
        .fetch(
            Method::GET,
            submitted["response_url"].as_str().unwrap(),
            key,
        )
        .await;
    assert_eq!(result.status, 499);

    sim.set_job_pace("fal", JobPace::immediate());
    let done = fal.call(&audio, key).await.json();
    fal.fetch(Method::GET, done["status_url"].as_str().unwrap(), key)
        .await;
    let late = fal
        .fetch(Method::PUT, done["cancel_url"].as_str().unwrap(), key)
        .await;
    assert_eq!(
        (late.status, late.json()),
        (400, json!({"status": "ALREADY_COMPLETED"}))
    );
    let result = fal
        .fetch(Method::GET, done["response_url"].as_str().unwrap(), key)
        .await;
    assert_eq!(result.json()["audio_file"]["content_type"], "audio/wav");
}

#[tokio::test]
async fn fal_jobs_can_fail_or_never_finish() {
    let sim = all_providers()
        .job_pace("fal", JobPace::immediate())
        .start()
        .await
        .unwrap();
    let fal = Caller::new(&sim, &FAL);
    let key = FAL_KEYS[1];
    sim.script(
        "fal",
        vec![
            Scripted::JobFails {
                message: "CUDA out of memory".into(),
            },
            Scripted::JobNeverFinishes,
        ],
    );

    let failing = fal.call(&flux(), key).await.json();
    let status = fal
        .fetch(Method::GET, failing["status_url"].as_str().unwrap(), key)
        .await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["status"], "COMPLETED");
    assert_eq!(status.json()["error"], "CUDA out of memory");
    let result = fal
        .fetch(Method::GET, failing["response_url"].as_str().unwrap(), key)
        .await;
    assert_eq!(result.status, 500);
    assert_eq!(result.json()["detail"], "CUDA out of memory");
    assert_eq!(
        result.header("x-fal-error-type"),
        Some("runner_server_error")
    );

    let stalled = fal.call(&flux(), key).await.json();
    for _ in 0..5 {
        let status = fal
            .fetch(Method::GET, stalled["status_url"].as_str().unwrap(), key)
            .await;
        assert_eq!(
            (status.status, status.json()["status"].clone()),
            (202, json!("IN_PROGRESS"))
        );
    }
    assert_eq!(sim.pending_script("fal"), 0);
}

/// Polls a Kling task until it is final; returns the statuses seen and the last data.
async fn poll_task(kling: &Caller, url: &str, key: &str) -> (Vec<String>, Value) {
    let mut seen = Vec::new();
    for _ in 0..10 {
        let answer = kling.fetch(Method::GET, url, key).await;
        assert_eq!(answer.status, 200);
        let body = answer.json();
        assert_eq!(body["code"], 0);
        assert_eq!(body["message"], "SUCCEED");
        let status = body["data"]["task_status"].as_str().unwrap().to_owned();
        seen.push(status.clone());
        if status == "succeed" || status == "failed" {
            return (seen, body["data"].clone());
        }
    }
    (seen, Value::Null)
}

#[tokio::test]
async fn kling_task_runs_from_submitted_to_succeed() {
    let sim = all_providers().start().await.unwrap();
    let kling = Caller::new(&sim, &KLING);
    let submitted = kling.call(&video(), KLING_KEYS[1]).await;
    assert_eq!(submitted.status, 200);
    let body = submitted.json();
    assert_eq!(body["code"], 0);
    assert_eq!(body["message"], "SUCCEED");
    assert!(body["request_id"].is_string());
    let data = &body["data"];
    assert_eq!(data["task_status"], "submitted");
    assert!(
        data["created_at"].as_u64().unwrap() > 1_700_000_000_000,
        "milliseconds"
    );
    assert_eq!(data["task_info"]["external_task_id"], "my-42");
    let task_id = data["task_id"].as_str().unwrap();
    assert!(task_id.chars().all(|c| c.is_ascii_digit()));

    let url = format!("{}/v1/videos/text2video/{task_id}", sim.base_url("kling"));
    let (seen, data) = poll_task(&kling, &url, KLING_KEYS[1]).await;
    assert_eq!(seen, ["submitted", "processing", "succeed"]);
    assert_eq!(
        data["task_result"]["videos"][0]["url"],
        "https://cdn.klingai.com/bs2/upload-kling-api/video.mp4"
    );
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.operation == Operation::TaskPoll)
            .count(),
        3
    );
}

#[tokio::test]
async fn kling_tasks_fail_with_a_status_message_or_stall() {
    let sim = Simulator::builder()
        .provider(&KLING, kling_routes())
        .keys("kling", KLING_KEYS)
        .job_pace("kling", JobPace::immediate())
        .start()
        .await
        .unwrap();
    let kling = Caller::new(&sim, &KLING);
    let base = sim.base_url("kling");
    sim.script(
        "kling",
        vec![Scripted::JobFails {
            message: "Content policy violation".into(),
        }],
    );
    let failing = kling.call(&video(), KLING_KEYS[0]).await.json();
    let url = format!(
        "{base}/v1/videos/text2video/{}",
        failing["data"]["task_id"].as_str().unwrap()
    );
    let (seen, data) = poll_task(&kling, &url, KLING_KEYS[0]).await;
    assert_eq!(seen, ["failed"]);
    assert_eq!(data["task_status_msg"], "Content policy violation");
    assert!(data.get("task_result").is_none());

    sim.set_faults(
        "kling",
        Faults {
            job_stall_rate: 1.0,
            ..Faults::none()
        },
    );
    let stalled = kling.call(&video(), KLING_KEYS[0]).await.json();
    let url = format!(
        "{base}/v1/videos/text2video/{}",
        stalled["data"]["task_id"].as_str().unwrap()
    );
    let (seen, data) = poll_task(&kling, &url, KLING_KEYS[0]).await;
    assert_eq!(seen.len(), 10);
    assert!(seen.iter().all(|s| s == "processing"));
    assert_eq!(data, Value::Null);
}

#[tokio::test]
async fn polls_do_not_spend_the_rate_limit_budget() {
    let sim = all_providers()
        .rate_limit("fal", media_sdk_sim::RateLimit::fixed(1))
        .start()
        .await
        .unwrap();
    let fal = Caller::new(&sim, &FAL);
    let submitted = fal.call(&flux(), FAL_KEYS[0]).await.json();
    for _ in 0..3 {
        let status = fal
            .fetch(
                Method::GET,
                submitted["status_url"].as_str().unwrap(),
                FAL_KEYS[0],
            )
            .await;
        assert_ne!(status.status, 429);
    }
    assert_eq!(
        fal.call(&flux(), FAL_KEYS[0]).await.status,
        429,
        "a second submission is"
    );
}
