use super::*;
use crate::text;
use proptest::prelude::*;

/// (raw series, labels, value bits, timestamp) of each sample.
type Parsed = (String, Vec<Label>, u64, Option<i64>);

fn samples(body: &str, format: Format) -> Result<Vec<Parsed>, ParseError> {
    let mut p = Parser::new(body.as_bytes(), format);
    let mut out = Vec::new();
    while let Some(e) = p.next()? {
        if let Entry::Sample(s) = e {
            let mut labels = Vec::new();
            parse_labels(s.name, s.labels, &mut labels).map_err(|m| ParseError { line: 0, msg: m })?;
            out.push((String::from_utf8_lossy(s.series).into_owned(), labels, s.value.to_bits(), s.timestamp));
        }
    }
    Ok(out)
}

#[test]
fn classic_text_with_everything() {
    let body = "# HELP http_requests_total The total.\n\
                # TYPE http_requests_total counter\n\
                http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                http_requests_total{method=\"post\",code=\"400\",} 3\n\
                \n\
                # a comment\n\
                msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
                metric_without_timestamp_and_labels 12.47\n\
                federate:x:rate1m{a=\"1\"}\t-Inf\n\
                nan_metric NaN\n\
                plus_inf +Inf\n";
    let s = samples(body, Format::PromText).unwrap();
    assert_eq!(s.len(), 7);
    assert_eq!(s[0].0, "http_requests_total{method=\"post\",code=\"200\"}");
    assert_eq!(s[0].3, Some(1395066363000));
    assert_eq!(s[1].1[1], Label::new("code", "400"));
    assert_eq!(s[2].1[1], Label::new("error", "Cannot find file:\n\"FILE.TXT\""));
    assert_eq!(s[2].1[2], Label::new("path", "C:\\DIR\\FILE.TXT"));
    assert_eq!(f64::from_bits(s[2].2), 1.458255915e9);
    assert_eq!(s[4].1[0], Label::new("__name__", "federate:x:rate1m"));
    assert_eq!(f64::from_bits(s[4].2), f64::NEG_INFINITY);
    assert_eq!(s[5].2, NORMAL_NAN_BITS, "exposed NaN is normalised, never a stale marker");
    assert_eq!(f64::from_bits(s[6].2), f64::INFINITY);
}

#[test]
fn histogram_and_summary_series_stay_separate() {
    let body = "# TYPE rpc histogram\nrpc_bucket{le=\"0.5\"} 1\nrpc_bucket{le=\"+Inf\"} 3\nrpc_sum 4.5\nrpc_count 3\n\
                # TYPE lat summary\nlat{quantile=\"0.9\"} 2\nlat_sum 10\nlat_count 5\n";
    let s = samples(body, Format::PromText).unwrap();
    let names: Vec<_> = s.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "rpc_bucket{le=\"0.5\"}",
            "rpc_bucket{le=\"+Inf\"}",
            "rpc_sum",
            "rpc_count",
            "lat{quantile=\"0.9\"}",
            "lat_sum",
            "lat_count"
        ]
    );
}

/// The first sample entry of a body.
fn first_sample<'a>(p: &mut Parser<'a>) -> Option<Entry<'a>> {
    while let Some(e) = p.next().unwrap() {
        if matches!(e, Entry::Sample(_)) {
            return Some(e);
        }
    }
    None
}

#[test]
fn openmetrics_timestamps_exemplars_and_eof() {
    let body = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                foo_created 1520430000.123\n# EOF\n";
    let s = samples(body, Format::OpenMetrics).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].3, Some(1520879607789));
    assert_eq!(f64::from_bits(s[0].2), 17.0);
    let mut p = Parser::new(body.as_bytes(), Format::OpenMetrics);
    let Some(Entry::Sample(s)) = first_sample(&mut p) else { panic!() };
    let e = s.exemplar.expect("the exemplar");
    assert_eq!((e.labels, e.value, e.timestamp), (&b"trace_id=\"KOO5S4vxi0o\""[..], 0.67, None));
    let mut l = Vec::new();
    parse_exemplar_labels(e.labels, &mut l).unwrap();
    assert_eq!(l, [cardinal_model::Label::new("trace_id", "KOO5S4vxi0o")]);
}

#[test]
fn exemplars_with_a_timestamp_and_broken_ones() {
    let ok = "a_total 1 # {id=\"x\"} 2.5 1520879607.5\n# EOF\n";
    let mut p = Parser::new(ok.as_bytes(), Format::OpenMetrics);
    let Some(Entry::Sample(s)) = first_sample(&mut p) else { panic!() };
    assert_eq!(s.exemplar.unwrap().timestamp, Some(1520879607500));
    for bad in
        ["a_total 1 # id 2\n# EOF\n", "a_total 1 # {id=\"x\"} two\n# EOF\n", "a_total 1 # {id=\"x\"} 2 3 4\n# EOF\n"]
    {
        assert!(samples(bad, Format::OpenMetrics).is_err(), "{bad}");
    }
    let long = format!("{{id=\"{}\"}}", "x".repeat(127));
    assert!(parse_exemplar_labels(&long.as_bytes()[1..long.len() - 1], &mut Vec::new()).is_err());
}

#[test]
fn metadata_entries() {
    let body = "# HELP a_total Requests \\\\ served.\\nMore.\n# TYPE a counter\n# UNIT a seconds\na_total 1\n# EOF\n";
    let mut p = Parser::new(body.as_bytes(), Format::OpenMetrics);
    let mut got = Vec::new();
    while let Some(e) = p.next().unwrap() {
        got.push(e);
    }
    assert_eq!(got[0], Entry::Help { name: b"a_total", text: br"Requests \\ served.\nMore." });
    assert_eq!(got[1], Entry::Type { name: b"a", kind: MetricType::Counter });
    assert_eq!(got[2], Entry::Unit { name: b"a", unit: b"seconds" });
    let Entry::Help { text, .. } = got[0] else { panic!() };
    assert_eq!(unescape_help(text), "Requests \\ served.\nMore.");
}

#[test]
fn openmetrics_requires_eof_and_nothing_after() {
    assert!(samples("foo 1\n", Format::OpenMetrics).unwrap_err().msg.contains("# EOF"));
    assert!(samples("foo 1\n# EOF\nbar 2\n", Format::OpenMetrics).is_err());
}

#[test]
fn errors_name_the_line() {
    let e = samples("ok 1\nbad{a=\"1\" 2\n", Format::PromText).unwrap_err();
    assert_eq!(e.line, 2);
    let e = samples("ok 1\n\nx y\n", Format::PromText).unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.to_string().starts_with("line 3: invalid value"), "{e}");
}

#[test]
fn rejects_malformed_lines() {
    for bad in [
        "1abc 1\n",
        "a{b=\"1\"}2\n",
        "a{b=1} 2\n",
        "a{=\"1\"} 2\n",
        "a{b=\"1} 2\n",
        "a 1 2 3\n",
        "a 1 notanumber\n",
        "a\n",
        "a{b=\"1\",b=\"2\"} 1\n",
        "# TYPE a bogus\n",
    ] {
        assert!(samples(bad, Format::PromText).is_err(), "{bad:?} should fail");
    }
}

#[test]
fn invalid_utf8_in_label_value_is_rejected() {
    let body = b"a{b=\"\xff\xfe\"} 1\n";
    let mut p = Parser::new(body, Format::PromText);
    let Some(Entry::Sample(s)) = p.next().unwrap() else { panic!() };
    let mut out = Vec::new();
    assert!(parse_labels(s.name, s.labels, &mut out).unwrap_err().contains("UTF-8"));
}

#[test]
fn content_type_selects_format() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_content_type("text/plain; version=0.0.4"), Format::PromText);
    assert_eq!(Format::from_content_type(""), Format::PromText);
}

fn label_value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 _\\\\\"\\n{}=,.:/-]{0,12}").unwrap()
}

proptest! {
    /// Whatever the writer writes, the parser reads back exactly.
    #[test]
    fn write_then_parse_round_trips(
        name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,10}", label_value(), 0..6),
        value in proptest::num::f64::ANY,
        ts in proptest::option::of(any::<i64>()),
    ) {
        prop_assume!(!labels.contains_key("__name__"));
        let mut body = String::new();
        text::write_sample(&mut body, &name, labels.iter().map(|(k, v)| (k.as_str(), v.as_str())), value, ts);
        let got = samples(&body, Format::PromText).unwrap();
        prop_assert_eq!(got.len(), 1);
        let mut want: Vec<Label> = labels.iter().map(|(k, v)| Label::new(k.as_str(), v.as_str())).collect();
        want.push(Label::new("__name__", name.as_str()));
        want.sort();
        prop_assert_eq!(&got[0].1, &want);
        if value.is_nan() {
            prop_assert_eq!(got[0].2, NORMAL_NAN_BITS);
        } else {
            prop_assert_eq!(got[0].2, value.to_bits());
        }
        prop_assert_eq!(got[0].3, ts);
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        for format in [Format::PromText, Format::OpenMetrics] {
            let mut p = Parser::new(&body, format);
            let mut out = Vec::new();
            for _ in 0..1000 {
                match p.next() {
                    Ok(Some(Entry::Sample(s))) => { let _ = parse_labels(s.name, s.labels, &mut out); }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }
}
