// The page's Uppy 5.x: exactly the packages' public entry points.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";

globalThis.UppyLib = { Uppy, AwsS3, version: 5, awsS3Version: AwsS3.VERSION, coreVersion: Uppy.VERSION };
