//! io controller: blockIO weight -> io.bfq.weight (raw, when BFQ is there) or io.weight (converted),
//! weightDevice -> io.bfq.weight lines, throttle -> io.max (runtime-contract §3.4, runc fs2/io.go).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::error::CgroupError;
use crate::file;

pub(crate) fn requested(io: &LinuxBlockIo) -> Option<&'static str> {
    let any = |v: &Option<Vec<LinuxThrottleDevice>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if io.weight().is_some_and(|w| w != 0)
        || io.weight_device().as_ref().is_some_and(|v| !v.is_empty())
    {
        Some("blkio weight")
    } else if any(io.throttle_read_bps_device())
        || any(io.throttle_write_bps_device())
        || any(io.throttle_read_iops_device())
        || any(io.throttle_write_iops_device())
    {
        Some("blkio throttle")
    } else {
        None
    }
}

/// blkio.weight [10, 1000] -> io.weight [1, 10000] (runc ConvertBlkIOToIOWeightValue).
pub(crate) fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

pub(crate) fn apply(dir: &Path, io: &LinuxBlockIo) -> Result<(), CgroupError> {
    let weight = io.weight().filter(|w| *w != 0);
    let device_weights: Vec<String> = io
        .weight_device()
        .iter()
        .flatten()
        .filter_map(|d| {
            d.weight()
                .map(|w| format!("{}:{} {w}", d.major(), d.minor()))
        })
        .collect();
    if weight.is_some() || !device_weights.is_empty() {
        // BFQ takes the blkio value as is and per-device weights; io.weight has neither, so the
        // existence of io.bfq.weight decides (one open, reused for every line).
        let bfq_path = dir.join("io.bfq.weight");
        match OpenOptions::new().write(true).open(&bfq_path) {
            Ok(mut bfq) => {
                for value in weight
                    .map(|w| w.to_string())
                    .into_iter()
                    .chain(device_weights)
                {
                    bfq.write_all(value.as_bytes())
                        .map_err(|e| CgroupError::Write {
                            path: bfq_path.clone(),
                            value,
                            errno: e.into(),
                        })?;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if let Some(w) = weight {
                    file::write(dir, "io.weight", &blkio_to_io_weight(w).to_string())?;
                }
            }
            Err(e) => {
                return Err(CgroupError::Open {
                    path: bfq_path,
                    errno: e.into(),
                })
            }
        }
    }
    let throttles = [
        ("rbps", io.throttle_read_bps_device()),
        ("wbps", io.throttle_write_bps_device()),
        ("riops", io.throttle_read_iops_device()),
        ("wiops", io.throttle_write_iops_device()),
    ];
    for (key, devices) in throttles {
        for d in devices.iter().flatten() {
            file::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
    };

    #[test]
    fn weight_conversion_endpoints() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10000);
    }

    #[test]
    fn weight_goes_to_io_weight_without_bfq() {
        let fx = Fixture::new(&["io.weight", "io.max"]);
        apply(
            fx.dir(),
            &LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(fx.content("io.weight"), "4950");
    }

    #[test]
    fn weight_and_device_weights_go_to_bfq_raw() {
        let fx = Fixture::new(&["io.weight", "io.bfq.weight"]);
        let wd = LinuxWeightDeviceBuilder::default()
            .major(8i64)
            .minor(0i64)
            .weight(300u16)
            .build()
            .unwrap();
        let io = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .weight_device(vec![wd])
            .build()
            .unwrap();
        apply(fx.dir(), &io).unwrap();
        // A plain file keeps both writes; the kernel takes them as two commands.
        assert_eq!(fx.content("io.bfq.weight"), "5008:0 300");
        assert_eq!(fx.content("io.weight"), "");
    }

    #[test]
    fn throttles_go_to_io_max() {
        let fx = Fixture::new(&["io.max"]);
        let dev = |rate: u64| {
            LinuxThrottleDeviceBuilder::default()
                .major(8i64)
                .minor(16i64)
                .rate(rate)
                .build()
                .unwrap()
        };
        let io = LinuxBlockIoBuilder::default()
            .throttle_write_iops_device(vec![dev(300)])
            .build()
            .unwrap();
        apply(fx.dir(), &io).unwrap();
        assert_eq!(fx.content("io.max"), "8:16 wiops=300");
        let io = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![dev(1048576)])
            .build()
            .unwrap();
        apply(fx.dir(), &io).unwrap();
        assert_eq!(fx.content("io.max"), "8:16 rbps=1048576");
        assert_eq!(requested(&io), Some("blkio throttle"));
    }
}
