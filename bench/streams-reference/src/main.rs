//! `streams-reference`: strom's side of the comparison with Kafka Streams.
//!
//! ```text
//! streams-reference generate RECORDS SEED OUTPUT [GROUP...]   the input, RECORDS per group
//!                                                            (lines events users pairs transactions)
//! streams-reference run INPUT OUTPUT [TOPOLOGY...]           strom's outputs, as JSON lines
//! streams-reference compare INPUT KAFKA_OUTPUT               strom's outputs beside Kafka's
//! streams-reference time INPUT TOPOLOGY...                   name, records in, out, milliseconds
//! ```
//!
//! `bench/streams-reference/throughput.sh` runs `time` here and Kafka Streams' on the same
//! input and prints the records/s of both.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use strom_streams_reference::{compare, drive, generate, run, Group, Input, Output, TOPOLOGIES};

const USAGE: &str = "usage: streams-reference generate RECORDS SEED OUTPUT [GROUP...] | \
                     run INPUT OUTPUT [TOPOLOGY...] | compare INPUT KAFKA_OUTPUT | \
                     time INPUT TOPOLOGY...";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match command(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("streams-reference: {message}");
            ExitCode::from(2)
        }
    }
}

fn command(args: &[String]) -> Result<ExitCode, String> {
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or(USAGE.to_string());
    let names = |from: usize| -> Vec<&str> {
        match args.get(from..) {
            Some(rest) if !rest.is_empty() => rest.iter().map(String::as_str).collect(),
            _ => TOPOLOGIES.to_vec(),
        }
    };
    match arg(0)? {
        "generate" => {
            let records = arg(1)?.parse().map_err(|e| format!("RECORDS: {e}"))?;
            let seed = arg(2)?.parse().map_err(|e| format!("SEED: {e}"))?;
            let groups = match args.get(4..) {
                Some(rest) if !rest.is_empty() => rest
                    .iter()
                    .map(|g| Group::named(g).ok_or(format!("unknown group {g:?}")))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => Group::ALL.to_vec(),
            };
            write_lines(arg(3)?, &generate(records, seed, &groups))?;
            Ok(ExitCode::SUCCESS)
        }
        "run" => {
            let input = read_lines::<Input>(arg(1)?)?;
            let mut out = Vec::new();
            for name in names(3) {
                out.extend(run(name, &input).map_err(|e| format!("{name}: {e}"))?);
            }
            write_lines(arg(2)?, &out)?;
            Ok(ExitCode::SUCCESS)
        }
        "compare" => {
            let input = read_lines::<Input>(arg(1)?)?;
            let kafka = read_lines::<Output>(arg(2)?)?;
            let mut strom = Vec::new();
            for name in TOPOLOGIES {
                strom.extend(run(name, &input).map_err(|e| format!("{name}: {e}"))?);
            }
            let comparisons = compare(&kafka, &strom);
            for comparison in &comparisons {
                println!("{}", comparison.summary());
            }
            let same = comparisons.iter().filter(|c| c.identical()).count();
            println!("{same} of {} outputs identical", comparisons.len());
            Ok(if same == comparisons.len() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        "time" => {
            let input = read_lines::<Input>(arg(1)?)?;
            for name in args.get(2..).unwrap_or_default() {
                let started = Instant::now();
                let (records_in, records_out) =
                    drive(name, &input, None).map_err(|e| format!("{name}: {e}"))?;
                let elapsed = started.elapsed().as_millis();
                println!("{name} {records_in} {records_out} {elapsed}");
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(USAGE.to_string()),
    }
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &str) -> Result<Vec<T>, String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{path}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| format!("{path}:{}: {e}", i + 1))?);
    }
    Ok(out)
}

fn write_lines<T: serde::Serialize>(path: &str, records: &[T]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{path}: {e}");
    let mut out = BufWriter::new(File::create(path).map_err(|e| fail(&e))?);
    for record in records {
        serde_json::to_writer(&mut out, record).map_err(|e| fail(&e))?;
        out.write_all(b"\n").map_err(|e| fail(&e))?;
    }
    out.flush().map_err(|e| fail(&e))
}
