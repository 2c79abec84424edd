//! Tile paths as C2SP tlog-tiles writes them: `tile/<L>/<n>[.p/<W>]` and
//! `tile/entries/<n>[.p/<W>]`, `n` three digits to a path element, all but
//! the last with an `x` (1234067 is `x001/x234/067`).

use super::WIDTH;

/// The kind (level or `entries`), number and width a tile path names.
pub(crate) fn parse_tile_path(path: &str) -> Option<(&str, u64, u64)> {
    let rest = path.strip_prefix("tile/")?;
    let (kind, rest) = rest.split_once('/')?;
    let (number, width) = match rest.split_once(".p/") {
        Some((number, width)) => {
            let width: u64 = width.parse().ok().filter(|&w| (1..WIDTH).contains(&w))?;
            (number, width)
        }
        None => (rest, WIDTH),
    };
    let groups: Vec<&str> = number.split('/').collect();
    let (last, leading) = groups.split_last()?;
    let mut n: u64 = 0;
    for group in leading
        .iter()
        .map(|group| group.strip_prefix('x'))
        .chain([Some(*last)])
    {
        let group = group?;
        if group.len() != 3 || !group.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(group.parse().ok()?)?;
    }
    (tile_path(kind, n, width) == path).then_some((kind, n, width))
}

/// `tile/<kind>/<n>`, with `.p/<width>` when the tile is partial (only
/// the rightmost of a level can be).
pub(crate) fn tile_path(kind: &str, n: u64, width: u64) -> String {
    let digits = n.to_string();
    let padded = format!("{}{digits}", "0".repeat((3 - digits.len() % 3) % 3));
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(3)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    let (last, rest) = groups
        .split_last()
        .map_or(("000", &[][..]), |(last, rest)| (*last, rest));
    let mut path = format!("tile/{kind}/");
    for group in rest {
        path.push('x');
        path.push_str(group);
        path.push('/');
    }
    path.push_str(last);
    if width < WIDTH {
        path.push_str(&format!(".p/{width}"));
    }
    path
}

#[cfg(test)]
mod tests {
    use super::{parse_tile_path, tile_path};

    #[test]
    fn tile_paths_read_back() {
        for (kind, n, width) in [
            ("0", 0, 256),
            ("entries", 1_234_067, 7),
            ("3", 999, 256),
            ("1", 1000, 1),
        ] {
            let path = tile_path(kind, n, width);
            assert_eq!(parse_tile_path(&path), Some((kind, n, width)), "{path}");
        }
        for bad in [
            "tile/0/1",
            "tile/0/x000/001",
            "tile/0/001.p/256",
            "tile/0/001.p/0",
            "tile/0/abc",
            "tile/0/001/",
            "checkpoints",
            "tile/0/x01/001",
        ] {
            assert_eq!(parse_tile_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn tile_paths_are_as_c2sp_writes_them() {
        assert_eq!(tile_path("0", 0, 256), "tile/0/000");
        assert_eq!(tile_path("0", 3, 232), "tile/0/003.p/232");
        assert_eq!(
            tile_path("entries", 1_234_067, 256),
            "tile/entries/x001/x234/067"
        );
        assert_eq!(tile_path("2", 1000, 5), "tile/2/x001/000.p/5");
    }
}
