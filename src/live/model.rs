//! JSON in and out of the SDK's types through the SDK's own model-driven codec
//! (`aws-smithy-json` over the shapes' schemas): a declaration is parsed into, say, a
//! `PipelineDeclaration` exactly as the service model says, with no field mapping of ours, and a
//! value read from AWS is printed back as the same JSON the API speaks (awsJson member names).
//! Keys the model does not know are reported, not dropped silently. Pure.

use aws_smithy_json::codec::{JsonCodec, JsonCodecSettings};
use aws_smithy_schema::codec::Codec as _;
use aws_smithy_schema::serde::{
    SerdeError, SerializableStruct, ShapeDeserializer, ShapeSerializer as _,
};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{what} does not match the AWS model: {source}")]
    Shape {
        what: String,
        #[source]
        source: SerdeError,
    },
    #[error("{what}: {} not in the AWS model ({})\n  hint: check the spelling and the case against the API reference; cutover sends only what the model knows", if .keys.len() == 1 { "this key is" } else { "these keys are" }, .keys.join(", "))]
    UnknownKeys { what: String, keys: Vec<String> },
    #[error("{what} could not be turned into JSON: {message}")]
    Json { what: String, message: String },
}

/// awsJson protocols (CodePipeline, CodeBuild, ECS) use the member names, not `jsonName`.
fn codec() -> JsonCodec {
    JsonCodec::new(JsonCodecSettings::builder().use_json_name(false).build())
}

/// A value of an SDK type as the API's JSON.
pub fn to_json(what: &str, value: &dyn SerializableStruct) -> Result<Value, ModelError> {
    let mut ser = codec().create_serializer();
    ser.write_struct(value.schema(), value)
        .map_err(|source| ModelError::Shape {
            what: what.to_string(),
            source,
        })?;
    serde_json::from_slice(&ser.finish()).map_err(|e| ModelError::Json {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// Parses `value` into an SDK type with its generated `deserialize`, and refuses keys the model
/// does not have (found by printing the result back and comparing).
pub fn from_json<T: SerializableStruct>(
    what: &str,
    value: &Value,
    deserialize: fn(&mut dyn ShapeDeserializer) -> Result<T, SerdeError>,
) -> Result<T, ModelError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ModelError::Json {
        what: what.to_string(),
        message: e.to_string(),
    })?;
    let codec = codec();
    let mut de = codec.create_deserializer(&bytes);
    let parsed = deserialize(&mut de).map_err(|source| ModelError::Shape {
        what: what.to_string(),
        source,
    })?;
    let back = to_json(what, &parsed)?;
    let mut keys = Vec::new();
    dropped_keys(value, &back, "$", &mut keys);
    if keys.is_empty() {
        Ok(parsed)
    } else {
        Err(ModelError::UnknownKeys {
            what: what.to_string(),
            keys,
        })
    }
}

/// JSON paths of the keys of `input` that `output` lacks (null values do not count).
pub fn dropped_keys(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => dropped_keys(v, w, &p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                dropped_keys(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codepipeline::types::PipelineDeclaration;
    use serde_json::json;

    fn declaration() -> Value {
        json!({
            "name": "p", "roleArn": "arn:aws:iam::123456789012:role/r", "pipelineType": "V2",
            "artifactStore": {"type": "S3", "location": "b"},
            "stages": [{"name": "Source", "actions": [{"name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "runOrder": 1, "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
                "outputArtifacts": [{"name": "Out"}]}]}]
        })
    }

    #[test]
    fn a_declaration_round_trips_through_the_sdk_type() {
        let d = from_json(
            "the declaration",
            &declaration(),
            PipelineDeclaration::deserialize,
        )
        .unwrap();
        assert_eq!(d.name(), "p");
        assert_eq!(d.stages()[0].actions()[0].run_order(), Some(1));
        assert_eq!(to_json("x", &d).unwrap(), declaration());
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let mut v = declaration();
        v["stages"][0]["actions"][0]["runorder"] = json!(2);
        v["colour"] = json!("blue");
        let e = from_json("the declaration", &v, PipelineDeclaration::deserialize).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("$.stages[0].actions[0].runorder"), "{text}");
        assert!(text.contains("$.colour"), "{text}");
    }

    #[test]
    fn a_wrong_type_is_refused() {
        let mut v = declaration();
        v["stages"][0]["actions"][0]["runOrder"] = json!("first");
        assert!(matches!(
            from_json("d", &v, PipelineDeclaration::deserialize),
            Err(ModelError::Shape { .. })
        ));
    }
}
