use media_sdk::Endpoint;

#[derive(Endpoint)]
#[endpoint(provider = "p", id = "e", health_id = "p-e", method = "GET", path = "/e", response = "audio")]
enum Request {
    A,
}

fn main() {}
