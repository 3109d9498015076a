//! Fixtures: made once per test binary run with real ffmpeg, cached in CARGO_TARGET_TMPDIR.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    /// 8 s, 320x240 H.264 25 fps, GOP 25 (1 s), 2 B-frames, AAC 48 kHz.
    Main,
    /// 3 s of the same, for the 1-byte-chunk push.
    Short,
    /// 6 s of AAC only.
    AudioOnly,
    /// 12 s, GOP 100 (4 s).
    LongGop,
    /// 10 s, keyframes only at [`IRREGULAR_KEYFRAMES`].
    IrregularGop,
    /// 8 s whose PTS start near 2^33 and wrap about 2.3 s in.
    PtsWrap,
    /// Two 4 s clips concatenated byte-wise; the second starts 30 s later.
    TimestampJump,
    /// 6 s, 320x240 H.265 (libx265) 25 fps, GOP 25, 2 B-frames, AAC 48 kHz.
    Hevc,
    /// 6 s of MP3 only (libmp3lame, 44.1 kHz stereo).
    Mp3,
    /// 4 s, 320x240 H.264 25 fps, GOP 25, 2 B-frames, AC-3 48 kHz stereo.
    Ac3,
    /// Two clips concatenated byte-wise with continuous timestamps: 3 s of [`Fixture::Main`]
    /// (320x240), then 4 s at 640x360 (another SPS) from 3 s on.
    ResolutionChange,
}

/// Keyframe times of [`Fixture::IrregularGop`] (multiples of the 40 ms frame duration).
pub const IRREGULAR_KEYFRAMES: [f64; 7] = [0.0, 0.6, 2.92, 3.32, 5.52, 5.92, 8.0];

pub(crate) const ALL_FIXTURES: usize = 11;
pub(crate) static FIXTURES: [OnceLock<(PathBuf, &'static [u8])>; ALL_FIXTURES] =
    [const { OnceLock::new() }; ALL_FIXTURES];

pub(crate) fn video_args(seconds: u32, gop: u32) -> Vec<String> {
    let s = format!(
        "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t {seconds} \
         -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g {gop} -bf 2 -sc_threshold 0 -c:a aac -b:a 64k"
    );
    s.split_whitespace().map(String::from).collect()
}

pub(crate) fn run_ffmpeg(args: &[String], out: &Path) {
    let output = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(args)
        .args(["-f", "mpegts"])
        .arg(out)
        .output()
        .expect("ffmpeg not found: install ffmpeg (scripts/test does)");
    assert!(
        output.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn fixture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hlsd-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn make_fixture(f: Fixture) -> Vec<u8> {
    // Each recipe is a list of ffmpeg invocations whose outputs are concatenated byte-wise.
    let recipes: Vec<Vec<String>> = match f {
        Fixture::Main => vec![video_args(8, 25)],
        Fixture::Short => vec![video_args(3, 25)],
        Fixture::LongGop => vec![video_args(12, 100)],
        Fixture::AudioOnly => vec![
            "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 6 -c:a aac -b:a 64k"
                .split_whitespace()
                .map(String::from)
                .collect(),
        ],
        Fixture::IrregularGop => {
            let mut a = video_args(10, 1000);
            let times: Vec<String> = IRREGULAR_KEYFRAMES.iter().map(|t| format!("{t}")).collect();
            a.extend([
                "-force_key_frames".into(),
                times.join(","),
                "-forced-idr".into(),
                "1".into(),
            ]);
            vec![a]
        }
        Fixture::PtsWrap => {
            let mut a = video_args(8, 25);
            a.extend(["-output_ts_offset".into(), "95440".into()]);
            vec![a]
        }
        Fixture::Hevc => {
            let mut a = video_args(6, 25);
            let at = a.iter().position(|x| x == "libx264").unwrap();
            a[at] = "libx265".into();
            a.extend(["-x265-params".into(), "log-level=error".into()]);
            vec![a]
        }
        Fixture::Mp3 => vec![
            "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 6 -ac 2 -c:a libmp3lame -b:a 128k"
                .split_whitespace()
                .map(String::from)
                .collect(),
        ],
        Fixture::Ac3 => {
            let mut a = video_args(4, 25);
            let aac = a.iter().position(|x| x == "aac").expect("an audio codec");
            a[aac] = "ac3".into();
            a[aac + 2] = "192k".into();
            vec![a]
        }
        Fixture::ResolutionChange => {
            let mut b: Vec<String> = video_args(4, 25)
                .into_iter()
                .map(|a| a.replace("size=320x240", "size=640x360"))
                .collect();
            b.extend(["-output_ts_offset".into(), "3".into()]);
            vec![video_args(3, 25), b]
        }
        Fixture::TimestampJump => {
            let mut b = video_args(4, 25);
            b.extend(["-output_ts_offset".into(), "30".into()]);
            vec![video_args(4, 25), b]
        }
    };
    // The cache key covers the recipe, so changing it regenerates the file.
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        recipes.hash(&mut h);
        h.finish()
    };
    let path = fixture_dir().join(format!("{f:?}-{key:016x}.ts"));
    if let Ok(data) = std::fs::read(&path)
        && !data.is_empty()
    {
        return data;
    }
    let mut data = Vec::new();
    for (i, args) in recipes.iter().enumerate() {
        let part = fixture_dir().join(format!(
            "{f:?}-{key:016x}.part{i}.{}.ts",
            std::process::id()
        ));
        run_ffmpeg(args, &part);
        data.extend(std::fs::read(&part).unwrap());
        let _ = std::fs::remove_file(&part);
    }
    let tmp = fixture_dir().join(format!("{f:?}-{key:016x}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &data).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    data
}

pub(crate) fn fixture_entry(f: Fixture) -> &'static (PathBuf, &'static [u8]) {
    FIXTURES[f as usize].get_or_init(|| {
        let data = make_fixture(f);
        let path = fixture_dir().join(format!("{f:?}.ts"));
        // A stable name beside the cached one, for ffmpeg publishers and for people.
        let tmp = fixture_dir().join(format!("{f:?}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &data).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        (path, Vec::leak(data))
    })
}

/// The bytes of a fixture. Call it before starting a server: the first call runs ffmpeg and
/// blocks the calling thread.
pub fn fixture(f: Fixture) -> Bytes {
    Bytes::from_static(fixture_entry(f).1)
}

pub fn fixture_path(f: Fixture) -> PathBuf {
    fixture_entry(f).0.clone()
}

/// The packets that hlsd must pass through for a push of `data`: everything but PAT/PMT,
/// from the first keyframe on.
pub fn expected_packets(data: &[u8]) -> Vec<&[u8]> {
    let info = ts::Info::parse(data);
    let pk = ts::strip_psi(data);
    let kf = ts::first_keyframe(&pk, &info).expect("the pushed stream has a keyframe");
    pk[kf..].to_vec()
}

/// Concatenates segments without their PSI (each segment's own PAT/PMT).
pub fn segment_packets(segments: &[Bytes]) -> Vec<&[u8]> {
    segments.iter().flat_map(|s| ts::strip_psi(s)).collect()
}

/// Compares packet lists without printing megabytes on failure.
pub fn assert_same_packets(got: &[&[u8]], want: &[&[u8]], what: &str) {
    if let Some(i) = got.iter().zip(want.iter()).position(|(a, b)| a != b) {
        panic!(
            "{what}: packet {i} differs (of {} got, {} expected): got pid {:#x} cc {}, expected pid {:#x} cc {}",
            got.len(),
            want.len(),
            ts::pid(got[i]),
            ts::continuity_counter(got[i]),
            ts::pid(want[i]),
            ts::continuity_counter(want[i])
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} packets in segments, {} pushed after the first keyframe",
        got.len(),
        want.len()
    );
}

/// `seconds` of 320x240 H.264 at 25 fps (GOP 1 s, B-frames) with AAC, its timestamps
/// starting at `offset` seconds (`-output_ts_offset`): the DVR tests' publishes; made once
/// and cached.
pub fn offset_clip(seconds: u32, offset: &str) -> Bytes {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hlsd-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("dvr-{seconds}s-at-{offset}-v1.ts"));
    if let Ok(data) = std::fs::read(&path)
        && !data.is_empty()
    {
        return Bytes::from(data);
    }
    let tmp = dir.join(format!("dvr-{seconds}-{offset}.{}.ts", std::process::id()));
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args([
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-bf",
            "2",
            "-sc_threshold",
            "0",
        ])
        .args(["-c:a", "aac", "-b:a", "64k"])
        .args(["-output_ts_offset", offset, "-f", "mpegts"])
        .arg(&tmp)
        .output()
        .expect("ffmpeg not found: install ffmpeg (scripts/test does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &path).unwrap();
    Bytes::from(std::fs::read(&path).unwrap())
}
