//! The client against a scripted HTTP server: refusals, answers it cannot read, streams cut anywhere.

use botfleet_client::{Client, ClientError};
use shared::{ErrorCode, api::events::EventStreamQuery, events::EventType};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// Serves one connection: reads the request head, then writes `chunks` with a pause between each.
/// Returns the base URL and a handle giving the request head.
async fn serve(chunks: Vec<Vec<u8>>) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before sending its request");
            head.extend_from_slice(&buf[..n]);
        }
        for chunk in chunks {
            socket.write_all(&chunk).await.unwrap();
            socket.flush().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        String::from_utf8_lossy(&head).into_owned()
    });
    (url, handle)
}

fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_refusal_keeps_the_managers_body_and_sends_the_key() {
    let body =
        r#"{"success":false,"code":"conflict","error":"instance x is stopped; start it first"}"#;
    let (url, head) = serve(vec![response("409 Conflict", "application/json", body)]).await;
    let err = Client::new(&url, "bfa_secret")
        .unwrap()
        .stop("x")
        .await
        .unwrap_err();
    let head = head.await.unwrap();
    assert!(head.starts_with("POST /api/v1/instances/x/stop "), "{head}");
    assert!(
        head.to_lowercase()
            .contains("authorization: bearer bfa_secret"),
        "{head}"
    );
    match err {
        ClientError::Api { status, body } => {
            assert_eq!(status, 409);
            assert_eq!(body.code, ErrorCode::Conflict);
            assert_eq!(body.error, "instance x is stopped; start it first");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_answer_of_another_shape_is_a_decode_error_naming_the_request() {
    let (url, _) = serve(vec![response(
        "200 OK",
        "application/json",
        r#"{"hello":1}"#,
    )])
    .await;
    let err = Client::new(&url, "k")
        .unwrap()
        .auth_status("abc")
        .await
        .unwrap_err();
    match &err {
        ClientError::Decode(d) => {
            assert_eq!(d.request, "GET /api/v1/instances/abc/auth-status");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error_that_says_why() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = Client::new(&url, "k")
        .unwrap()
        .credentials("a")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("refused"), "{err}");
}

#[tokio::test]
async fn events_and_log_lines_arrive_whole_from_cut_chunks() {
    let event = r#"{"id":"e1","timestamp":"2026-01-01T00:00:00Z","event_type":"instance.stopped","instance_id":"i1","message":"stopped by the user"}"#;
    let stream = format!(":\n\nevent: instance.stopped\nid: e1\ndata: {event}\n\n");
    let (first, second) = stream.as_bytes().split_at(40);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    let (url, request) = serve(vec![head.into(), first.to_vec(), second.to_vec()]).await;
    let client = Client::new(&url, "k").unwrap();
    let query = EventStreamQuery {
        instance_id: Some("i1".into()),
        types: vec![EventType::InstanceStopped],
    };
    let mut events = client.event_stream(&query).await.unwrap();
    let e = events.next().await.unwrap().unwrap();
    assert_eq!(
        (e.event_type, e.id.as_str()),
        (EventType::InstanceStopped, "e1")
    );
    assert!(events.next().await.unwrap().is_none(), "the stream ended");
    let request = request.await.unwrap();
    assert!(
        request.starts_with("GET /api/v1/events/stream?instance_id=i1&types=instance.stopped "),
        "{request}"
    );

    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n";
    let (url, _) = serve(vec![
        head.into(),
        b"first li".to_vec(),
        b"ne\r\nsecond\nlast".to_vec(),
    ])
    .await;
    let client = Client::new(&url, "k").unwrap();
    let mut lines = client.follow_logs("i1", 5).await.unwrap();
    let mut got = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        got.push(line);
    }
    assert_eq!(got, ["first line", "second", "last"]);
}
